"""Sign-in, sign-out and the password change (the rules are in ``survey.accounts.sign_in``).

Flask-Limiter caps sign-in POSTs per network address (``RATELIMIT_LOGIN``); failures back off
per (email, address) pair, so nobody can keep the account's owner out. Unknown emails are
counted the same way, so the answer never tells whether an account exists.
"""
from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from survey.accounts import sign_in
from survey.accounts.passwords import check_password
from survey.extensions import limiter
from survey.models import utcnow
from survey.pollster import bp
from survey.pollster.forms import LoginForm, PasswordChangeForm

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
    address = sign_in.address_key(request.remote_addr)
    if sign_in.backoff_ends(email, address) is None:
        pollster = sign_in.authenticate(email, form.password.data)
        if pollster is not None:
            sign_in.begin_session(pollster, address)
            return redirect(safe_next(request.args.get("next")) or url_for("pollster.dashboard"))
        sign_in.record_failure(email, address)
    ends = sign_in.backoff_ends(email, address)
    if ends is None:
        flash("That email and password do not match an account.", "error")
        return render_template("pollster/login.html", form=form)
    minutes = max(1, math.ceil((ends - utcnow()).total_seconds() / 60))
    flash(
        f"Too many failed sign-ins from your network for this account. Try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}; each further failure doubles the wait. If this is your account, "
        "you can sign in from another network (your phone's, say) right away.",
        "error",
    )
    return render_template("pollster/login.html", form=form), 429


@bp.post("/logout")
def logout():
    """Sign out everywhere; a POST with a CSRF token (checked by CSRFProtect), so no other site can do it."""
    sign_in.end_session(current_user)
    flash("You are signed out.", "info")
    return redirect(url_for("pollster.login"))


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Change the password; every other session of the account ends."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return render_template("pollster/password.html", form=form), 400 if form.is_submitted() else 200
    if not check_password(current_user, form.current_password.data):
        form.current_password.errors.append("Your current password is not right.")
        return render_template("pollster/password.html", form=form), 400
    sign_in.change_password(current_user, form.new_password.data)
    flash("Your password is changed; any other session of your account is signed out.", "info")
    return redirect(url_for("pollster.dashboard"))


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site; None for anything that could leave it."""
    if not target or any(ord(char) < 0x21 or char == "\\" for char in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
