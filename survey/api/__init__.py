"""The JSON API: the same fieldwork, results and downloads as the pollster pages.

Authentication is a per-pollster bearer token only (``routes``); session cookies count for
nothing here, so the API needs no CSRF protection. Every view declares its parameters and its
answer with the schemas of ``schemas`` (``openapi`` says how), and so appears in
``/api/openapi.json`` without further work.
"""
from flask import Flask

from survey.api.openapi import ApiBlueprint, register_api
from survey.extensions import csrf

bp = ApiBlueprint("api", __name__, url_prefix="/api", description="Fieldwork, results and downloads")
csrf.exempt(bp)

from survey.api import routes  # noqa: E402,F401  (routes attach themselves to bp)


def register(app: Flask) -> None:
    register_api(app, bp)
