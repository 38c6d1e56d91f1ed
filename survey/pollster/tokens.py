"""The pollster's API tokens: create one (its secret is shown once), see when each was used, revoke."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from survey.accounts.api_tokens import issue_token
from survey.extensions import db
from survey.models import ApiToken, utcnow
from survey.pollster import bp
from survey.pollster.forms import ActionForm, ApiTokenForm


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    form = ApiTokenForm()
    new_secret = None
    if form.validate_on_submit():
        _token, new_secret = issue_token(current_user, form.name.data)
        db.session.commit()
        form = ApiTokenForm(formdata=None)
    response = render_template(
        "pollster/tokens.html",
        form=form,
        new_secret=new_secret,
        action_form=ActionForm(),
        tokens=db.session.scalars(
            sa.select(ApiToken).where(ApiToken.pollster_id == current_user.id).order_by(ApiToken.created_at.desc())
        ).all(),
    )
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.pollster_id != current_user.id:
        abort(404)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
        flash(f"The token {token.name!r} is revoked; requests that use it are now refused.", "info")
    return redirect(url_for("pollster.tokens"))
