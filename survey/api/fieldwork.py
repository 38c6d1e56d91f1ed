"""The surveys a token's pollster owns, and each one's fieldwork."""
from __future__ import annotations

from survey.accounts.ownership import owned_survey_or_404, owned_surveys
from survey.api import bp
from survey.api.schemas import FieldworkSchema, SurveyListSchema
from survey.reporting.fieldwork import fieldwork_summary


@bp.route("/surveys", tags=["surveys"])
@bp.response(200, SurveyListSchema)
def surveys():
    """The surveys this token's pollster owns, newest first."""
    return {"surveys": owned_surveys()}


@bp.route("/surveys/<slug>/fieldwork", tags=["fieldwork"])
@bp.response(200, FieldworkSchema)
def fieldwork(slug: str):
    """Fieldwork so far: responses by outcome, completion and break-off rates, invitations, completions per day.

    Rates are shares of eligible starts (completes, break-offs and eligible respondents still answering).
    """
    survey = owned_survey_or_404(slug)
    return {"survey": survey, **fieldwork_summary(survey).to_dict()}
