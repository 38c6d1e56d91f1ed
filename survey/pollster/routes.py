"""The pollster pages' entry: every route needs a signed-in pollster; the route groups attach here.

Views added to the blueprint are protected without a decorator: the guard below runs before
each of them, except the few listed in ``PUBLIC_ENDPOINTS``.
"""
from __future__ import annotations

from flask import request
from flask_login import current_user

from survey.extensions import login
from survey.pollster import (  # noqa: F401  (route groups attach themselves to bp)
    auth,
    bp,
    downloads,
    fieldwork,
    methodology,
    results,
    templating,
    tokens,
    weighting,
)

PUBLIC_ENDPOINTS = frozenset({"pollster.login"})


@bp.before_request
def _require_pollster():
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    return login.unauthorized()
