"""Settings read from the environment, with safe defaults for development.

Production (``FLASK_ENV``/``SURVEY_ENV`` = production) refuses to start without a
real ``SECRET_KEY``; development generates one per instance folder.
"""
from __future__ import annotations

import os


def as_bool(value: str | None) -> bool:
    """Read a boolean environment variable the way a person writes one."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL")
    PRODUCTION = os.environ.get("SURVEY_ENV", "development") == "production"

    # Sessions are signed cookies; nothing lives in a worker's memory.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = as_bool(os.environ.get("SESSION_COOKIE_SECURE")) or PRODUCTION
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    WTF_CSRF_TIME_LIMIT = None  # a long questionnaire must not expire under a slow respondent
    # WTForms' own messages stay English; every message a respondent sees is ours (gettext). Saves
    # loading WTForms' catalogue from disk on every request (Flask-WTF does not cache it).
    WTF_I18N_ENABLED = False

    LANGUAGES = ("en", "es")
    BABEL_DEFAULT_LOCALE = "en"

    # Rate limits on public endpoints (Flask-Limiter syntax).
    RATELIMIT_START = os.environ.get("RATELIMIT_START", "30 per minute")
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "10 per minute")
    # Failed sign-ins per email (from any address) before that account is locked for a while.
    LOGIN_FAILURES_BEFORE_LOCKOUT = int(os.environ.get("LOGIN_FAILURES_BEFORE_LOCKOUT", "5"))
    LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "300"))
    RATELIMIT_ENABLED = True

    # How many reverse proxies in front of the site set X-Forwarded-For/-Proto/-Host. The
    # rate limiter and paradata read the client's address from there only when this is set;
    # with 0 those headers are ignored, so a client cannot choose its own address.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    # Salt for hashing user agents and addresses in paradata.
    PARADATA_SALT = os.environ.get("PARADATA_SALT")

    DEFAULT_QUESTIONNAIRE = "california-2025"


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-only-secret"
    PARADATA_SALT = "testing-only-salt"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    SESSION_COOKIE_SECURE = False
    PRODUCTION = False
