"""Security headers on every response (a strict CSP, no inline script, no framing, nothing stored in
caches but static files), the request body limit, and the signing of cookies and hidden fields."""
from __future__ import annotations

import copy
import functools
import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar, Union

from flask import Flask, Request, Response, abort, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature, Serializer, URLSafeSerializer, URLSafeTimedSerializer

View = TypeVar("View", bound=Callable)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


_SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
# Pages show saved answers, resume links, results: no browser or proxy may keep a copy.
_NOT_STORED = (*_SECURITY_HEADERS, ("Cache-Control", "no-store"))


def _add_headers(response: Response) -> Response:
    """The security headers a view did not set itself (looked up in one pass: on every response)."""
    present = {name.lower() for name, _ in response.headers.items()}
    wanted = _SECURITY_HEADERS if request.endpoint == "static" else _NOT_STORED
    response.headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
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


@functools.lru_cache(maxsize=32)
def _serializer(secret_key: Union[str, bytes], purpose: str, timed: bool) -> Serializer:
    return (URLSafeTimedSerializer if timed else URLSafeSerializer)(secret_key, salt=purpose)


def signer(purpose: str, *, timed: bool = False) -> Serializer:
    """The app's serializer for one kind of signed value, so what the server signed comes back unchanged.

    Built once per key and purpose: building one costs as much as signing with it.
    """
    return _serializer(current_app.secret_key, purpose, timed)


class SessionCookie(SecureCookieSessionInterface):
    """Flask's signed session cookie, with its serializer built once per set of keys, and the
    cookies it verified lately kept by their exact text.

    Flask builds a new serializer twice a request, and verifies the cookie (its signature,
    then its tagged JSON) on every request, although a respondent's cookie stays the same
    from page to page; together they were a tenth of a worker's CPU on a respondent's page
    (docs/performance.md). The same text under the same keys verifies the same way, so a
    cookie seen before is not verified again, but its age is still checked against the
    session's lifetime, and each request gets its own copy of the data.
    """

    _LIMIT = 4096  # verified cookies kept per set of keys; emptied when full

    def __init__(self) -> None:
        self._serializers: dict[tuple, tuple[URLSafeTimedSerializer, dict[str, tuple[Any, float]]]] = {}

    def _for_keys(self, app: Flask) -> tuple[URLSafeTimedSerializer, dict[str, tuple[Any, float]]]:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(keys)
        if found is None:
            found = self._serializers[keys] = (super().get_signing_serializer(app), {})
        return found

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        return self._for_keys(app)[0] if app.secret_key else None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        text = request.cookies.get(self.get_cookie_name(app))
        if not text or not app.secret_key:
            return super().open_session(app, request)
        serializer, verified = self._for_keys(app)
        max_age = app.permanent_session_lifetime.total_seconds()
        known = verified.get(text)
        if known is None:
            try:
                data, signed_at = serializer.loads(text, max_age=max_age, return_timestamp=True)
            except BadSignature:
                return self.session_class()
            if len(verified) >= self._LIMIT:
                verified.clear()
            known = verified[text] = (data, signed_at.timestamp())
        elif time.time() - known[1] > max_age:
            return self.session_class()
        return self.session_class(copy.deepcopy(known[0]))


def init_app(app: Flask) -> None:
    """Call before CSRFProtect's ``init_app``: the body limit must be set before its check reads the form."""
    app.session_interface = SessionCookie()
    app.before_request(_limit_body)
    app.after_request(_add_headers)
