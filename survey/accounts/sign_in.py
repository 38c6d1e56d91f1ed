"""Pollster sign-in: a back-off on failed guesses, and sessions the server can end.

Failures are counted per (email, network address) pair. After ``LOGIN_FREE_FAILURES`` of them
each further failure doubles the wait for that pair (``LOGIN_BACKOFF_SECONDS``, 2x, 4x …, at
most ``LOGIN_BACKOFF_MAX_SECONDS``). An attacker guessing at someone's email slows only
themselves: the account's owner, from their own network, signs in as usual. The address is
kept only as a keyed hash, and only for ``LOGIN_FAILURE_MEMORY_SECONDS``.

Sessions are signed cookies, so to end one the server keeps a per-pollster
``session_version``: the session carries the version it began with, and a session whose
version is no longer the pollster's is signed out (``survey.models.load_pollster``).
Signing out or changing the password moves the version on.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, session
from flask_login import login_user, logout_user

from survey.accounts.passwords import check_password, hash_password
from survey.extensions import db
from survey.models import SESSION_VERSION_KEY, LoginFailure, Pollster, as_utc, utcnow


def address_key(address: str | None) -> str:
    """A keyed hash of a network address: failures from one address match, the address is not kept."""
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, f"sign-in:{address or ''}".encode("utf-8"), hashlib.sha256).hexdigest()


def backoff_seconds(failures: int) -> int:
    """How long a pair waits after ``failures`` recent failures: nothing at first, then doubling."""
    config = current_app.config
    extra = failures - config["LOGIN_FREE_FAILURES"]
    if extra <= 0:
        return 0
    return min(config["LOGIN_BACKOFF_SECONDS"] * 2 ** min(extra - 1, 30), config["LOGIN_BACKOFF_MAX_SECONDS"])


def _recent(email: str, address: str):
    memory = timedelta(seconds=current_app.config["LOGIN_FAILURE_MEMORY_SECONDS"])
    return sa.and_(LoginFailure.email == email, LoginFailure.address_key == address,
                   LoginFailure.failed_at > utcnow() - memory)


def backoff_ends(email: str, address: str) -> datetime | None:
    """When this pair may try again, or None if it may now."""
    count, latest = db.session.execute(
        sa.select(sa.func.count(), sa.func.max(LoginFailure.failed_at)).where(_recent(email, address))
    ).one()
    wait = backoff_seconds(count)
    if not wait:
        return None
    ends = as_utc(latest) + timedelta(seconds=wait)
    return ends if ends > utcnow() else None


def record_failure(email: str, address: str) -> None:
    """Count a failure, and forget any failure too old to matter, so guesses cannot grow the table without bound."""
    memory = timedelta(seconds=current_app.config["LOGIN_FAILURE_MEMORY_SECONDS"])
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.failed_at <= utcnow() - memory))
    db.session.add(LoginFailure(email=email, address_key=address))
    db.session.commit()


def authenticate(email: str, password: str) -> Pollster | None:
    pollster = db.session.scalar(sa.select(Pollster).where(Pollster.email == email))
    if pollster is None:
        check_password(Pollster(password_hash=_decoy_hash()), password)  # same time as for a real account
        return None
    return pollster if check_password(pollster, password) else None


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def begin_session(pollster: Pollster, address: str) -> None:
    """Sign in on a fresh session: nothing from before survives, the CSRF secret included."""
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.email == pollster.email,
                                                     LoginFailure.address_key == address))
    db.session.commit()
    session.clear()
    login_user(pollster)
    session[SESSION_VERSION_KEY] = pollster.session_version


def end_sessions(pollster: Pollster) -> None:
    """End every session of ``pollster`` (this one too); the caller commits."""
    pollster.session_version += 1


def end_session(pollster: Pollster) -> None:
    """Sign out: the cookie, wherever copies of it are, no longer signs anyone in."""
    end_sessions(pollster)
    db.session.commit()
    logout_user()
    session.clear()


def change_password(pollster: Pollster, new_password: str) -> None:
    """Set a new password and end every other session; this one carries on."""
    pollster.password_hash = hash_password(new_password)
    end_sessions(pollster)
    db.session.commit()
    session[SESSION_VERSION_KEY] = pollster.session_version
