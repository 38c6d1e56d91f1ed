"""Security headers on every response (a strict CSP, no inline script, no framing, nothing stored in
caches but static files) and the request body limit."""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, abort, current_app, request

View = TypeVar("View", bound=Callable)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def _add_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.endpoint != "static":
        # Pages show saved answers, resume links, results: no browser or proxy may keep a copy.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def loggable_path() -> str:
    """This request's route pattern and a short hash of its path, for logs.

    Paths such as ``/i/<token>`` and ``/r/<token>`` are credentials and never go to a log; the
    hash still lets a request be matched with one its sender reports.
    """
    pattern = request.url_rule.rule if request.url_rule is not None else "(no route)"
    return f"{pattern} [{hashlib.sha256(request.path.encode('utf-8')).hexdigest()[:8]}]"


def accepts_upload(view: View) -> View:
    """Mark a view that receives a file: its body may reach ``UPLOAD_MAX_CONTENT_LENGTH``."""
    view.accepts_upload = True
    return view


def _limit_body() -> None:
    """Refuse an oversized body before anything reads it (Werkzeug enforces the same limit while reading)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "accepts_upload", False):
        request.max_content_length = current_app.config["UPLOAD_MAX_CONTENT_LENGTH"]
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        abort(413)


def init_app(app: Flask) -> None:
    """Call before CSRFProtect's ``init_app``: the body limit must be set before its check reads the form."""
    app.before_request(_limit_body)
    app.after_request(_add_headers)
