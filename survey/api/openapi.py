"""The API's declarations, through flask-smorest: one marshmallow schema per input and output.

``@bp.arguments(Schema, location="query")`` parses and validates a view's parameters,
``@bp.response(200, Schema)`` serialises what it returns, and flask-smorest (with apispec)
builds the OpenAPI document from the same two declarations, so the document cannot drift
from the code. A view's docstring gives the operation's summary (first line) and
description (the rest). The schemas are in ``schemas.py``; the document and its page are
served by ``document.py``.

Why flask-smorest: it keeps Flask's app class and blueprints (APIFlask and flask-openapi3
replace them), and marshmallow already separates loading from dumping, which is what a
view needs (spectree and flask-openapi3 are built on Pydantic models instead).
"""
from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import flask_smorest
from apispec import BasePlugin
from flask import Flask, abort
from webargs.flaskparser import FlaskParser

from survey.api.schemas import ErrorSchema
from survey.documents import flatten

ERROR_RESPONSES = {
    "BadRequest": "A parameter is missing or has a value the API does not accept.",
    "Unauthorized": "No API token, or one that is not valid or has been revoked.",
    "NotFound": "No such survey among those this token's pollster owns.",
}


class _Parser(FlaskParser):
    """A parameter or body field the schema refuses is a 400 in the site's one error envelope, naming its place."""

    DEFAULT_VALIDATION_STATUS = 400

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        by_location = error.normalized_messages().values()  # {"query": {"ci": [...]}}: the location goes unsaid
        abort(400, "; ".join(problem for messages in by_location for problem in problems_of(messages)))


def problems_of(messages: Any) -> list[str]:
    """marshmallow's nested messages, each after its place: ``bounds[0]: Not a valid number.``"""
    return [f"{place or 'the request body'}: {message}" for place, message in flatten(messages)]


class ApiBlueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _Parser()


class _ErrorResponses(BasePlugin):
    """Each operation lists the errors it can answer with, all in the envelope of ``survey.errors``."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in operations.items():
            operation["operationId"] = kwargs["rule"].endpoint.removeprefix("api.") + (
                f"_{method}" if len(operations) > 1 else ""
            )
            responses = operation.setdefault("responses", {})
            if responses.pop(400, None):  # flask-smorest's entry for the view's @bp.arguments
                responses["400"] = "BadRequest"
            if operation.get("security") != []:
                responses["401"] = "Unauthorized"
            if "{" in path:
                responses["404"] = "NotFound"


class _SiteApi(flask_smorest.Api):
    """flask-smorest's ``Api`` without its error handlers: ``survey.errors`` answers every error of the site."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self):
        pass


def register_api(app: Flask, blueprint: ApiBlueprint) -> None:
    """Register ``blueprint`` on ``app`` with its OpenAPI 3.1 document (one ``Api`` per app)."""
    api = _SiteApi(app, spec_kwargs={
        "title": "Survey platform API",
        "version": _site_version(),
        "openapi_version": "3.1.0",
        "extra_plugins": [_ErrorResponses()],
        "info": {
            "description": "Fieldwork, weighted results and downloads for the surveys a pollster owns. "
            "Send a token from the pollster's API tokens page in the header Authorization: Bearer <token>.",
        },
        "security": [{"bearerToken": []}],
    })
    api.spec.components.security_scheme("bearerToken", {"type": "http", "scheme": "bearer"})
    for name, description in ERROR_RESPONSES.items():
        api.spec.components.response(name, {"description": description, "content": {"application/json": {"schema": ErrorSchema}}})
    api.register_blueprint(blueprint)


def _site_version() -> str:
    """The installed package's version; a checkout run without installing it still serves its document."""
    try:
        return version("calexit-survey")
    except PackageNotFoundError:
        return "0+checkout"


def public(view: Callable) -> Callable:
    """Mark a view that needs no token (the document itself); ``routes`` lets it through."""
    view = flask_smorest.Blueprint.doc(security=[])(view)
    view.is_public = True
    return view


def is_public(view: Any) -> bool:
    return getattr(view, "is_public", False)
