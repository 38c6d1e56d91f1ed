"""One place for error pages: HTML for browsers, one JSON envelope for API clients."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, Response, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge, SecurityError, ServiceUnavailable

from survey.extensions import db

log = logging.getLogger(__name__)


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, title: str, message: str):
    if wants_json():
        return jsonify({"error": {"code": status, "title": title, "message": message}}), status
    return render_template("error.html", status=status, title=title, message=message), status


def _http_error(error: HTTPException):
    return error_response(error.code or 500, error.name, error.description or "")


def _csrf_error(error: CSRFError):
    return error_response(400, "Bad Request", "The form had expired or was not sent from this site. Please go back and try again.")


def _untrusted_host(error: SecurityError):
    """A Host header not in TRUSTED_HOSTS: no link can be built for it, so a plain answer without any."""
    return Response("This site does not answer to that host name.\n", status=400, mimetype="text/plain")


def _too_large(error: RequestEntityTooLarge):
    limit = request.max_content_length or current_app.config["UPLOAD_MAX_CONTENT_LENGTH"]
    return error_response(413, "Content Too Large", (
        f"What you sent is too large: this page accepts at most {limit / 1024 / 1024:g} MB. "
        "Send a smaller file (split it into several), or shorter answers."
    ))


def _database_unavailable(error: sa.exc.OperationalError):
    log.error("database unavailable: %s", error.orig)  # not the statement's parameters
    db.session.rollback()
    return _http_error(ServiceUnavailable("The survey is briefly unavailable. Your earlier answers are safe; please try again in a minute."))


def _value_refused(error: sa.exc.DataError):
    """The database refused a value (a NUL byte in text, a number out of range): the sender's mistake, not ours."""
    log.warning("database refused a value: %s", error.orig)
    db.session.rollback()
    return _http_error(BadRequest(
        "Something you sent contains characters or numbers that cannot be stored. Please check it and try again."
    ))


def _server_error(error: Exception):
    log.exception("unhandled error", exc_info=error)
    db.session.rollback()
    return error_response(500, "Internal Server Error", "Something went wrong on our side. Your earlier answers are safe.")


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(SecurityError, _untrusted_host)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa.exc.OperationalError, _database_unavailable)
    app.register_error_handler(sa.exc.InterfaceError, _database_unavailable)
    app.register_error_handler(sa.exc.DataError, _value_refused)
    if not app.testing:
        app.register_error_handler(Exception, _server_error)
