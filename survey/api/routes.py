"""The API's entry: every route needs a bearer token unless declared ``@public``; the route groups attach here."""
from __future__ import annotations

from flask import current_app, g, request

from survey.accounts.api_tokens import has_expired, valid_token
from survey.api import bp, document, fieldwork, results  # noqa: F401  (route groups attach themselves to bp)
from survey.api.openapi import is_public
from survey.errors import error_response


@bp.before_request
def _require_token():
    if is_public(current_app.view_functions.get(request.endpoint)):
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _unauthorized("Send an API token in the header Authorization: Bearer <token>.")
    token = valid_token(secret.strip())
    if token is None:
        return _unauthorized("The API token is not valid or has been revoked; create a new one on the API tokens page.")
    if has_expired(token):
        return _unauthorized("The API token has expired; create a new one on the API tokens page.")
    g.api_pollster = token.pollster
    g.api_survey_id = token.survey_id  # None: every survey the pollster owns (survey.accounts.ownership)
    return None


def _unauthorized(message: str):
    response, status = error_response(401, "Unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response, status
