"""Texts in the respondent's language: questionnaire texts and the language switch."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from flask import current_app, request, url_for
from flask_babel import get_locale

# Each language named in itself, so a reader of the other language can find their own.
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


def current_language() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def localized(texts: Optional[Mapping[str, str]], language: Optional[str] = None) -> str:
    """A questionnaire text in the respondent's language, falling back to English."""
    if not texts:
        return ""
    language = language or current_language()
    return texts.get(language) or texts.get("en") or next(iter(texts.values()))


def language_links() -> list[dict[str, object]]:
    """Links to this same page in each language (a GET, so the respondent keeps their place).

    Only the route's own values and ``lang`` go into the link: query parameters never reach
    ``url_for``, where ``_method``, ``_external`` or ``_anchor`` would change what it builds.
    """
    current = current_language()
    links = []
    for code in current_app.config["LANGUAGES"]:
        if request.endpoint and request.url_rule is not None and "GET" in (request.url_rule.methods or ()):
            href = url_for(request.endpoint, **request.view_args, lang=code)
        else:
            href = f"{request.path}?lang={code}"
        links.append({"code": code, "name": LANGUAGE_NAMES.get(code, code), "href": href, "current": code == current})
    return links
