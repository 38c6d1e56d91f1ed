"""Bearer tokens for the API: random, shown once, stored only as a SHA-256 digest.

A token has 256 bits from ``secrets``, so a fast digest is enough to store it (there is
nothing to brute-force); a slow password hash would only slow every API call. Tokens are
made and hashed exactly like the respondents' invitation and resume links.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from flask import current_app, g, request

from survey.api import bp
from survey.errors import error_response
from survey.extensions import db
from survey.models import ApiToken, Pollster, Survey, utcnow
from survey.respond.service import new_token, token_hash

TOKEN_PREFIX = "svy_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per token


def issue_token(pollster: Pollster, name: str, *, expires_in_days: int | None = None,
                survey: Survey | None = None) -> tuple[ApiToken, str]:
    """A new token for ``pollster``, valid ``expires_in_days`` (None: until revoked) for ``survey``
    (None: all they own); the caller commits and shows the secret exactly once."""
    secret = TOKEN_PREFIX + new_token()
    token = ApiToken(pollster_id=pollster.id, name=name.strip(), token_hash=token_hash(secret),
                     expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
                     survey_id=survey.id if survey is not None else None)
    db.session.add(token)
    return token, secret


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # SQLite: naive, stored in UTC


def valid_token(secret: str) -> ApiToken | None:
    """The unrevoked token with this secret (expired or not), its last use noted; or None."""
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == token_hash(secret), ApiToken.revoked_at.is_(None))
    )
    if token is None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - _utc(token.last_used_at) > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token


@bp.before_request
def _require_token():
    view = current_app.view_functions.get(request.endpoint)
    operation = getattr(view, "openapi_operation", None)
    if operation is not None and operation.public:  # declared with @documented(public=True)
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _unauthorized("Send an API token in the header Authorization: Bearer <token>.")
    token = valid_token(secret.strip())
    if token is None:
        return _unauthorized("The API token is not valid or has been revoked; create a new one on the API tokens page.")
    if token.expires_at is not None and _utc(token.expires_at) <= utcnow():
        return _unauthorized("The API token has expired; create a new one on the API tokens page.")
    g.api_pollster = token.pollster
    g.api_survey_id = token.survey_id
    return None


def _unauthorized(message: str):
    response, status = error_response(401, "Unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response, status
