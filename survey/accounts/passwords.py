"""Pollster accounts: passwords hashed with Argon2id, a memory-hard function."""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from survey.extensions import db
from survey.models import Pollster

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(pollster: Pollster, password: str) -> bool:
    try:
        return _hasher.verify(pollster.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def create_pollster(email: str, password: str) -> Pollster:
    """Add a pollster; the caller commits. Raises ValueError with a message for the person."""
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(sa.select(Pollster).where(Pollster.email == email)):
        raise ValueError(f"a pollster with the email {email} already exists")
    pollster = Pollster(email=email, password_hash=hash_password(password))
    db.session.add(pollster)
    return pollster
