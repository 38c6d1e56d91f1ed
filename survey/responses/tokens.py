"""Secrets in links and their stored hashes: resume links, invitations and API tokens alike.

A token has 256 bits from ``secrets``, so a fast digest is enough to store it (there is
nothing to brute-force); only the digest is kept, so a database dump opens nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Optional

from flask import current_app


def new_token() -> str:
    """A URL-safe secret for a resume or invitation link (256 bits).

    Never begins with ``-``: the links file would otherwise defuse it as a spreadsheet formula
    (``analysis.export.neutralize``), and the token column would no longer match the link.
    """
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        continue
    return token


def token_hash(token: str) -> str:
    """Only this hash of a token is stored, so a database dump opens no one's survey."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def paradata_hash(value: Optional[str]) -> Optional[str]:
    """Salted hash of a user agent: equal inputs match, the clear text is never kept."""
    if not value:
        return None
    salt = current_app.config["PARADATA_SALT"].encode("utf-8")
    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()
