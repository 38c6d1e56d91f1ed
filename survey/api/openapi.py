"""OpenAPI 3.1 generated from the route declarations themselves.

A view states what it returns with ``@documented(schema)``; its docstring becomes the
operation's summary (first line) and description (the rest). ``/api/openapi.json`` walks
the app's URL map, so an endpoint appears in the document by being declared, and
``tests/survey/test_api.py`` fails for any /api route that is not.

Why not apispec, flask-smorest or APIFairy: all three describe payloads with marshmallow
schemas, a second serialization layer this API does not otherwise need (its views return
plain dicts built from ``analysis`` results). A JSON Schema dict beside each view carries the
same information, and the generator below is short enough to read in one sitting.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from flask import Flask, current_app, jsonify, render_template

from survey.api import bp

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "title", "message"],
            "properties": {
                "code": {"type": "integer", "description": "the HTTP status"},
                "title": {"type": "string"},
                "message": {"type": "string", "description": "what went wrong, for the person who can fix it"},
            },
        }
    },
}

_COMPONENT_SCHEMAS: dict[str, Mapping[str, Any]] = {"Error": ERROR_SCHEMA}
_PATH_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_SCHEMAS = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "uuid": {"type": "string", "format": "uuid"},
}


@dataclass(frozen=True)
class Operation:
    """What a view declares about itself for the OpenAPI document."""

    response: Mapping[str, Any] | None
    content_type: str = "application/json"
    status: int = 200
    tags: tuple[str, ...] = ()
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    request_body: Mapping[str, Any] | None = None
    public: bool = False


def documented(
    response: Mapping[str, Any] | None = None,
    *,
    content_type: str = "application/json",
    status: int = 200,
    tags: tuple[str, ...] | list[str] = (),
    query: Mapping[str, Mapping[str, Any]] | None = None,
    request_body: Mapping[str, Any] | None = None,
    public: bool = False,
) -> Callable:
    """Declare an API view for the OpenAPI document.

    Parameters
    ----------
    response : JSON Schema of the success body (or of a file: ``{"type": "string", "format": "binary"}``).
    content_type : media type of the success body, e.g. ``"text/csv"``.
    status : HTTP status of the success response.
    tags : groups in the document, e.g. ``("results",)``.
    query : query parameters by name, each a JSON Schema that may carry ``description``
        and ``required``.
    request_body : JSON Schema of a JSON request body, if the view reads one.
    public : True for the rare view that needs no token (the document itself).
    """
    operation = Operation(
        response=response,
        content_type=content_type,
        status=status,
        tags=tuple(tags),
        query=dict(query or {}),
        request_body=request_body,
        public=public,
    )

    def decorate(view: Callable) -> Callable:
        view.openapi_operation = operation
        return view

    return decorate


def component(name: str, schema: Mapping[str, Any]) -> dict[str, str]:
    """Register a reusable schema under ``#/components/schemas/name`` and return a reference to it."""
    known = _COMPONENT_SCHEMAS.setdefault(name, schema)
    if known is not schema and known != schema:
        raise ValueError(f"two different OpenAPI schemas are both named {name!r}")
    return {"$ref": f"#/components/schemas/{name}"}


def openapi_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared view of the ``api`` blueprint."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if not rule.endpoint.startswith("api."):
            continue
        view = app.view_functions[rule.endpoint]
        operation: Operation | None = getattr(view, "openapi_operation", None)
        if operation is None:
            continue
        path, path_parameters = _openapi_path(rule.rule)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for method in methods:
            operation_id = rule.endpoint.removeprefix("api.") + (f"_{method.lower()}" if len(methods) > 1 else "")
            paths.setdefault(path, {})[method.lower()] = _operation_object(
                view, operation, operation_id, path_parameters
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Survey platform API",
            "version": version("calexit-survey"),
            "description": "Fieldwork, weighted results and downloads for the surveys a pollster owns. "
            "Send a token from the pollster's API tokens page in the header Authorization: Bearer <token>.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(_COMPONENT_SCHEMAS.items())),
            "securitySchemes": {"bearerToken": {"type": "http", "scheme": "bearer"}},
            "responses": {
                name: {"description": text, "content": {"application/json": {"schema": component("Error", ERROR_SCHEMA)}}}
                for name, text in _ERROR_RESPONSES.items()
            },
        },
        "security": [{"bearerToken": []}],
    }


_ERROR_RESPONSES = {
    "Unauthorized": "No API token, or one that is not valid or has been revoked.",
    "NotFound": "No such survey among those this token's pollster owns.",
    "BadRequest": "A parameter is missing or has a value the API does not accept.",
}


def _openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = [
        {
            "name": match["name"],
            "in": "path",
            "required": True,
            "schema": _CONVERTER_SCHEMAS.get(match["converter"] or "", {"type": "string"}),
        }
        for match in _PATH_ARGUMENT.finditer(rule)
    ]
    return _PATH_ARGUMENT.sub(lambda match: "{" + match["name"] + "}", rule), parameters


def _operation_object(
    view: Callable, operation: Operation, operation_id: str, path_parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    summary, _, description = (inspect.getdoc(view) or operation_id).partition("\n")
    success: dict[str, Any] = {"description": summary}
    if operation.response is not None:
        success["content"] = {operation.content_type: {"schema": operation.response}}
    responses: dict[str, Any] = {str(operation.status): success}
    if operation.query or operation.request_body:
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
    if not operation.public:
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    if path_parameters:
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
    result: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary.strip(),
        "parameters": path_parameters + [_query_parameter(name, schema) for name, schema in operation.query.items()],
        "responses": responses,
    }
    if description.strip():
        result["description"] = description.strip()
    if operation.tags:
        result["tags"] = list(operation.tags)
    if operation.request_body is not None:
        result["requestBody"] = {"required": True, "content": {"application/json": {"schema": operation.request_body}}}
    if operation.public:
        result["security"] = []
    return result


def _query_parameter(name: str, declared: Mapping[str, Any]) -> dict[str, Any]:
    schema = {key: value for key, value in declared.items() if key not in {"description", "required"}}
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": bool(declared.get("required")), "schema": schema}
    if "description" in declared:
        parameter["description"] = declared["description"]
    return parameter


@bp.get("/openapi.json")
@documented({"type": "object", "description": "an OpenAPI 3.1 document"}, tags=("meta",), public=True)
def openapi_document_view():
    """This document: every API operation, generated from the routes themselves."""
    return jsonify(openapi_document(current_app))


@bp.get("/docs")
@documented({"type": "string"}, content_type="text/html", tags=("meta",), public=True)
def docs():
    """A readable page of the same operations, for people."""
    return render_template("api/docs.html", document=openapi_document(current_app))
