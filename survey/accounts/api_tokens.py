"""Bearer tokens for the API: random, shown once, stored only as a SHA-256 digest.

Tokens are made and hashed exactly like the respondents' invitation and resume links
(``survey.responses.tokens``): 256 random bits need no slow password hash, which would
only slow every API call.
"""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from survey.extensions import db
from survey.models import ApiToken, Pollster, Survey, as_utc, utcnow
from survey.responses.tokens import new_token, token_hash

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


def valid_token(secret: str) -> ApiToken | None:
    """The unrevoked token with this secret (expired or not), its last use noted; or None."""
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == token_hash(secret), ApiToken.revoked_at.is_(None))
    )
    if token is None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - as_utc(token.last_used_at) > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token


def has_expired(token: ApiToken) -> bool:
    return token.expires_at is not None and as_utc(token.expires_at) <= utcnow()
