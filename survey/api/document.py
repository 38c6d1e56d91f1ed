"""The OpenAPI document and its readable page, both open without a token."""
from __future__ import annotations

from flask import jsonify, make_response, render_template
from flask_smorest import current_api

from survey.api import bp
from survey.api.openapi import public


@bp.route("/openapi.json", tags=["meta"])
@bp.response(200, {"type": "object", "description": "an OpenAPI 3.1 document"})
@public
def openapi_document_view():
    """This document: every API operation, generated from the routes' own declarations."""
    return jsonify(current_api.spec.to_dict())


@bp.route("/docs", tags=["meta"])
@bp.response(200, {"type": "string"}, content_type="text/html")
@public
def docs():
    """A readable page of the same operations, for people."""
    return make_response(render_template("api/docs.html", document=current_api.spec.to_dict()))
