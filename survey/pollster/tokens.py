"""The pollster's API tokens: create one (its secret is shown once), see when each was used, revoke."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectChoice

from survey.accounts.api_tokens import issue_token
from survey.accounts.ownership import owned_surveys
from survey.extensions import db
from survey.models import ApiToken, utcnow
from survey.pollster import bp
from survey.pollster.forms import ActionForm, ApiTokenForm


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    surveys = {survey.slug: survey for survey in owned_surveys()}
    form = _token_form(surveys)
    new_secret = None
    if form.validate_on_submit():
        _token, new_secret = issue_token(current_user, form.name.data, survey=surveys.get(form.survey.data),
                                         expires_in_days=int(form.expires_in_days.data or 0) or None)
        db.session.commit()
        form = _token_form(surveys, formdata=None)
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


def _token_form(surveys: dict, **kwargs) -> ApiTokenForm:
    form = ApiTokenForm(**kwargs)
    form.survey.choices = [SelectChoice("", "all your surveys")] + [SelectChoice(slug, f"only {slug}") for slug in surveys]
    return form


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
