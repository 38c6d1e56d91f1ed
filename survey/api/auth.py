"""Bearer tokens for the API: random, shown once, stored only as a SHA-256 digest.

A token has 256 bits from ``secrets``, so a fast digest is enough to store it (there is
nothing to brute-force); a slow password hash would only slow every API call. Tokens are
made and hashed exactly like the respondents' invitation and resume links.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g, request

from survey.api import bp
from survey.errors import error_response
from survey.extensions import db
from survey.models import ApiToken, Pollster, utcnow
from survey.respond.service import new_token, token_hash

TOKEN_PREFIX = "svy_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often per token


def issue_token(pollster: Pollster, name: str) -> tuple[ApiToken, str]:
    """A new token for ``pollster``; the caller commits and shows the secret exactly once."""
    secret = TOKEN_PREFIX + new_token()
    token = ApiToken(pollster_id=pollster.id, name=name.strip(), token_hash=token_hash(secret))
    db.session.add(token)
    return token, secret


def token_owner(secret: str) -> Pollster | None:
    """The pollster holding this unrevoked token, or None."""
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == token_hash(secret), ApiToken.revoked_at.is_(None))
    )
    if token is None:
        return None
    now = utcnow()
    last = token.last_used_at
    if last is None or now - (last if last.tzinfo else last.replace(tzinfo=now.tzinfo)) > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token.pollster


@bp.before_request
def _require_token():
    view = current_app.view_functions.get(request.endpoint)
    operation = getattr(view, "openapi_operation", None)
    if operation is not None and operation.public:  # declared with @documented(public=True)
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _unauthorized("Send an API token in the header Authorization: Bearer <token>.")
    pollster = token_owner(secret.strip())
    if pollster is None:
        return _unauthorized("The API token is not valid or has been revoked; create a new one on the API tokens page.")
    g.api_pollster = pollster
    return None


def _unauthorized(message: str):
    response, status = error_response(401, "Unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response, status
