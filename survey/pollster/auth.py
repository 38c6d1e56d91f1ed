"""Sign-in and sign-out, with two brakes on password guessing.

Flask-Limiter caps sign-in POSTs per network address (``RATELIMIT_LOGIN``). Failures are
also counted per email in the database, so guesses spread over many addresses lock that
account for ``LOGIN_LOCKOUT_SECONDS`` after ``LOGIN_FAILURES_BEFORE_LOCKOUT`` failures.
Unknown emails are counted the same way, so the answer never tells whether an account exists.
"""
from __future__ import annotations

import functools
import math
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from survey.accounts.passwords import check_password, hash_password
from survey.extensions import db, limiter
from survey.models import LoginFailure, Pollster, as_utc, utcnow
from survey.pollster import bp
from survey.pollster.forms import LoginForm

NETWORK_LIMIT_MESSAGE = "Too many sign-in attempts from your network. Wait a minute, then try again."


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"], error_message=NETWORK_LIMIT_MESSAGE)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("pollster.dashboard"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("pollster/login.html", form=form)
    email = form.email.data.strip().lower()
    if lockout_ends(email) is None:
        pollster = _authenticate(email, form.password.data)
        if pollster is not None:
            db.session.execute(sa.delete(LoginFailure).where(LoginFailure.email == email))
            db.session.commit()
            login_user(pollster)
            return redirect(safe_next(request.args.get("next")) or url_for("pollster.dashboard"))
        _record_failure(email)
    ends = lockout_ends(email)
    if ends is None:
        flash("That email and password do not match an account.", "error")
        return render_template("pollster/login.html", form=form)
    minutes = max(1, math.ceil((ends - utcnow()).total_seconds() / 60))
    flash(
        f"This account is locked after too many failed sign-ins. Try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}.",
        "error",
    )
    return render_template("pollster/login.html", form=form), 429


@bp.post("/logout")
def logout():
    """Sign out; a POST with a CSRF token (checked by CSRFProtect), so no other site can do it."""
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("pollster.login"))


def _record_failure(email: str) -> None:
    """Count a failure for ``email``, and forget failures too old to matter (any email's),
    so guesses at made-up addresses cannot grow the table without bound."""
    window = timedelta(seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"])
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.failed_at <= utcnow() - window))
    db.session.add(LoginFailure(email=email))
    db.session.commit()


def _authenticate(email: str, password: str) -> Pollster | None:
    pollster = db.session.scalar(sa.select(Pollster).where(Pollster.email == email))
    if pollster is None:
        check_password(Pollster(password_hash=_decoy_hash()), password)  # same time as for a real account
        return None
    return pollster if check_password(pollster, password) else None


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def lockout_ends(email: str) -> datetime | None:
    """When sign-in opens again for ``email``, or None if it is open now."""
    limit = current_app.config["LOGIN_FAILURES_BEFORE_LOCKOUT"]
    window = timedelta(seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"])
    now = utcnow()
    recent = list(
        db.session.scalars(
            sa.select(LoginFailure.failed_at)
            .where(LoginFailure.email == email, LoginFailure.failed_at > now - window)
            .order_by(LoginFailure.failed_at.desc())
            .limit(limit)
        )
    )
    if len(recent) < limit:
        return None
    return as_utc(recent[-1]) + window


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site; None for anything that could leave it."""
    if not target or any(ord(char) < 0x21 or char == "\\" for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
