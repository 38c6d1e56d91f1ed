"""What a pollster sees: sign-in, the surveys they own, fieldwork, weighting, results, downloads.

Every route of this blueprint requires a signed-in pollster (see ``routes``); a view that
takes a survey slug loads it with ``survey.accounts.ownership.owned_survey_or_404``, so
nobody learns that a survey they do not own exists.
"""
from flask import Blueprint

from survey.extensions import login

bp = Blueprint("pollster", __name__, url_prefix="/pollster")


@bp.record_once
def _configure_login(_state) -> None:
    login.login_view = "pollster.login"
    login.login_message = "Please sign in to see this page."
    login.login_message_category = "info"
    login.session_protection = "strong"


from survey.pollster import routes  # noqa: E402,F401  (routes attach themselves to bp)
