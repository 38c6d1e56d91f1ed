"""The JSON API: the same fieldwork, results and downloads as the pollster pages.

Authentication is a per-pollster bearer token only (``routes``); session cookies count for
nothing here, so the API needs no CSRF protection. Every view is declared with
``openapi.documented`` and appears in ``/api/openapi.json`` without further work.
"""
from flask import Blueprint

from survey.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)

from survey.api import routes  # noqa: E402,F401  (routes attach themselves to bp)
