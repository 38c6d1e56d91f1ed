"""Who owns what: the pollster making a request and the surveys they may see.

On the pollster pages that is the signed-in pollster; on the API the owner of the bearer
token (``survey.accounts.api_tokens``), never a cookie. A survey someone does not own is a
404, so its existence stays hidden.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, g, request
from flask_login import current_user

from survey.extensions import db
from survey.models import Pollster, Survey, survey_owners


def current_pollster() -> Pollster:
    """The pollster making this request: the API token's owner on /api, the signed-in one elsewhere."""
    if request.blueprint == "api":
        pollster = g.get("api_pollster")
    else:
        pollster = current_user if current_user.is_authenticated else None
    if pollster is None:
        abort(401)
    return pollster


def owned_surveys(pollster: Pollster | None = None) -> list[Survey]:
    """The surveys this pollster owns, newest first."""
    pollster = pollster or current_pollster()
    return list(
        db.session.scalars(
            sa.select(Survey)
            .join(survey_owners, survey_owners.c.survey_id == Survey.id)
            .where(survey_owners.c.pollster_id == pollster.id)
            .order_by(Survey.created_at.desc(), Survey.id.desc())
        )
    )


def owned_survey_or_404(slug: str) -> Survey:
    """The survey ``slug`` if the current pollster owns it; 404 otherwise, so its existence stays hidden."""
    pollster = current_pollster()
    survey = db.session.scalar(
        sa.select(Survey)
        .join(survey_owners, survey_owners.c.survey_id == Survey.id)
        .where(Survey.slug == slug, survey_owners.c.pollster_id == pollster.id)
    )
    if survey is None:
        abort(404)
    return survey
