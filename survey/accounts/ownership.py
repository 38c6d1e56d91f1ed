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


def _owned(pollster: Pollster) -> sa.Select:
    """The surveys ``pollster`` owns, and on the API only the one its token is scoped to, if any."""
    query = (sa.select(Survey).join(survey_owners, survey_owners.c.survey_id == Survey.id)
             .where(survey_owners.c.pollster_id == pollster.id))
    scope = g.get("api_survey_id") if request.blueprint == "api" else None
    return query.where(Survey.id == scope) if scope is not None else query


def owned_surveys(pollster: Pollster | None = None) -> list[Survey]:
    """The surveys this pollster owns (those the API token may see), newest first."""
    pollster = pollster or current_pollster()
    return list(db.session.scalars(_owned(pollster).order_by(Survey.created_at.desc(), Survey.id.desc())))


def owned_survey_or_404(slug: str) -> Survey:
    """The survey ``slug`` if the current pollster owns it (and the API token covers it); 404 otherwise,
    so its existence stays hidden."""
    survey = db.session.scalar(_owned(current_pollster()).where(Survey.slug == slug))
    if survey is None:
        abort(404)
    return survey
