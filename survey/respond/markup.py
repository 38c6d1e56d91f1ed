"""Rendered questionnaire pages kept per process, with holes for what is one respondent's own.

Rendering a page with Jinja cost more worker CPU than everything else a page view does
(docs/performance.md). A page the respondent has not answered yet, and the consent page of
a survey's public link, are the same markup for every respondent who sees them in the same
language, option order and place in the survey, except for three values: the CSRF token, the
form's signed hidden field (the page's visit, the consent's start) and the resume link. Those
are rendered as holes (random per process, so no questionnaire text can hold one), the
markup is kept under a key of everything else it depends on, and each view fills in its own
values, escaped as Jinja would escape them. No answer and no token is ever kept.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from typing import Optional

from flask import current_app
from markupsafe import escape

CSRF_HOLE, SIGNED_HOLE, RESUME_HOLE = (f"hole{secrets.token_hex(16)}{name}" for name in ("csrf", "signed", "resume"))

_LIMIT = 512  # pages x languages x progress positions x drawn option orders; emptied when full


def kept_pages() -> dict[Hashable, str]:
    """This application's kept pages: one app per process in production, but tests make many,
    with other settings (CSRF off, say) that change the markup."""
    return current_app.extensions.setdefault("respond.markup", {})


def filled(key: Hashable, render: Callable[[], str], *, csrf: str, signed: str, resume: Optional[str] = None) -> str:
    """The page under ``key`` (``render`` draws it, with the holes, the first time), holes filled in.

    ``render`` must put ``CSRF_HOLE``, ``SIGNED_HOLE`` and, if the page has a resume link,
    ``RESUME_HOLE`` where the respondent's values go; ``key`` must hold everything else the
    markup depends on.
    """
    pages = kept_pages()
    markup = pages.get(key)
    if markup is None:
        markup = render()
        if len(pages) >= _LIMIT:
            pages.clear()
        pages[key] = markup
    markup = markup.replace(CSRF_HOLE, escape(csrf)).replace(SIGNED_HOLE, escape(signed))
    return markup.replace(RESUME_HOLE, escape(resume)) if resume is not None else markup
