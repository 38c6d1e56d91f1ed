"""What a respondent sees: landing, consent, one page per questionnaire page, resume, thank-you."""
from survey.respond.routes import bp

__all__ = ["bp"]
