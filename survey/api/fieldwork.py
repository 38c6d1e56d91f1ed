"""The surveys a token's pollster owns, and each one's fieldwork."""
from __future__ import annotations

from flask import jsonify

from survey.accounts.ownership import owned_survey_or_404, owned_surveys
from survey.api import bp
from survey.api.openapi import component, documented
from survey.models import Survey
from survey.reporting.fieldwork import fieldwork_summary
from survey.responses.quality import FLAGS

_COUNT = {"type": "integer", "minimum": 0}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1, "description": "share of eligible starts; null before any"}

SURVEY = component(
    "Survey",
    {
        "type": "object",
        "required": ["slug", "title", "status", "opened_at", "closed_at"],
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "object", "additionalProperties": {"type": "string"}, "description": "by language code"},
            "status": {"type": "string", "enum": ["draft", "open", "closed"]},
            "opened_at": {"type": ["string", "null"], "format": "date-time"},
            "closed_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
)

FIELDWORK = component(
    "Fieldwork",
    {
        "type": "object",
        "required": ["survey", "started", "completed", "screened_out", "in_progress", "broken_off", "left_at_screener",
                     "in_progress_eligible", "screened_out_by",
                     "excluded_by_quality", "quality_flags", "eligible", "completion_rate", "breakoff_rate",
                     "invitations", "invitations_used", "invitations_unused", "completions_by_day"],
        "properties": {
            "survey": SURVEY,
            "started": _COUNT,
            "completed": _COUNT,
            "screened_out": _COUNT,
            "in_progress": _COUNT,
            "broken_off": {**_COUNT, "description": "eligible (past the screening questions), idle for over an hour"},
            "left_at_screener": {**_COUNT, "description": "idle for over an hour before eligibility was known"},
            "in_progress_eligible": {**_COUNT, "description": "past the screening questions and still answering"},
            "screened_out_by": {"type": "object", "additionalProperties": _COUNT,
                                "description": "screen-outs per screening question code"},
            "excluded_by_quality": {**_COUNT, "description": "complete responses the default quality rules leave out"},
            "quality_flags": {
                "type": "object",
                "description": "complete responses carrying each quality flag, and how many are excluded",
                "properties": {name: _COUNT for name in (*FLAGS, "excluded")},
                "required": [*FLAGS, "excluded"],
            },
            "simulated": _COUNT,
            "eligible": {**_COUNT, "description": "completed + broken off + eligible still answering"},
            "completion_rate": _RATE,
            "breakoff_rate": _RATE,
            "invitations": _COUNT,
            "invitations_used": _COUNT,
            "invitations_unused": _COUNT,
            "completions_by_day": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["date", "completed"],
                    "properties": {"date": {"type": "string", "format": "date"}, "completed": _COUNT},
                },
            },
        },
    },
)


def survey_json(survey: Survey) -> dict:
    return {
        "slug": survey.slug,
        "title": survey.title,
        "status": survey.status,
        "opened_at": survey.opened_at.isoformat() if survey.opened_at else None,
        "closed_at": survey.closed_at.isoformat() if survey.closed_at else None,
    }


@bp.get("/surveys")
@documented({"type": "object", "required": ["surveys"], "properties": {"surveys": {"type": "array", "items": SURVEY}}}, tags=("surveys",))
def surveys():
    """The surveys this token's pollster owns, newest first."""
    return jsonify({"surveys": [survey_json(survey) for survey in owned_surveys()]})


@bp.get("/surveys/<slug>/fieldwork")
@documented(FIELDWORK, tags=("fieldwork",))
def fieldwork(slug: str):
    """Fieldwork so far: responses by outcome, completion and break-off rates, invitations, completions per day.

    Rates are shares of eligible starts (completes, break-offs and eligible respondents still answering).
    """
    survey = owned_survey_or_404(slug)
    return jsonify({"survey": survey_json(survey), **fieldwork_summary(survey).to_dict()})
