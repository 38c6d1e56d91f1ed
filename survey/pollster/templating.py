"""What every pollster template can use: the survey's tabs and number formats."""
from __future__ import annotations

from flask import current_app

from survey.pollster import bp

# The pages of one survey, in tab order; a tab shows once its endpoint exists in the app.
SURVEY_SECTIONS = (
    ("pollster.survey", "Overview"),
    ("pollster.fieldwork", "Fieldwork"),
    ("pollster.weighting", "Weighting"),
    ("pollster.results", "Results"),
    ("pollster.banner", "Banner tables"),
    ("pollster.downloads", "Downloads"),
)


@bp.app_context_processor
def _survey_sections():
    def survey_sections() -> list[tuple[str, str]]:
        return [(endpoint, label) for endpoint, label in SURVEY_SECTIONS if endpoint in current_app.view_functions]

    return {"survey_sections": survey_sections}


@bp.app_template_filter("percent")
def percent(share: float | None, digits: int = 0) -> str:
    """0.4567 -> '46%'; a share that cannot be computed yet (None) -> an em dash."""
    return "—" if share is None else f"{100 * share:.{digits}f}%"
