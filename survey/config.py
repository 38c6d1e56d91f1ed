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
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}  # survey.database adds what each database needs
    REDIS_URL = os.environ.get("REDIS_URL")
    PRODUCTION = os.environ.get("SURVEY_ENV", "development") == "production"

    # Sessions are signed cookies; nothing lives in a worker's memory.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = as_bool(os.environ.get("SESSION_COOKIE_SECURE")) or PRODUCTION
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    # A respondent may leave a long questionnaire page open for hours; a token older than this
    # (copied from an old page, or leaked) is refused. Respondent and pollster forms alike.
    WTF_CSRF_TIME_LIMIT = int(os.environ.get("WTF_CSRF_TIME_LIMIT", str(12 * 3600)))
    # WTForms' own messages stay English; every message a respondent sees is ours (gettext). Saves
    # loading WTForms' catalogue from disk on every request (Flask-WTF does not cache it).
    WTF_I18N_ENABLED = False

    # Request bodies: answers and sign-ins are small; only views marked ``accepts_upload``
    # (targets and panel-ID files) take up to UPLOAD_MAX_CONTENT_LENGTH. Larger bodies get a 413.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(1024 * 1024)))
    UPLOAD_MAX_CONTENT_LENGTH = int(os.environ.get("UPLOAD_MAX_CONTENT_LENGTH", str(8 * 1024 * 1024)))

    # The host names the site answers to (comma-separated). Flask refuses any other Host header
    # with a 400, so a forged one never reaches an absolute link (invitation links, resume links).
    # Required in production.
    TRUSTED_HOSTS = [host.strip() for host in os.environ.get("TRUSTED_HOSTS", "").split(",") if host.strip()] or None

    LANGUAGES = ("en", "es")
    BABEL_DEFAULT_LOCALE = "en"

    # Rate limits on public endpoints (Flask-Limiter syntax).
    RATELIMIT_START = os.environ.get("RATELIMIT_START", "30 per minute")
    RATELIMIT_LOGIN = os.environ.get("RATELIMIT_LOGIN", "10 per minute")
    # Failed sign-ins per (email, address) pair before each further failure doubles the wait,
    # from LOGIN_BACKOFF_SECONDS up to LOGIN_BACKOFF_MAX_SECONDS (survey.accounts.sign_in).
    LOGIN_FREE_FAILURES = int(os.environ.get("LOGIN_FREE_FAILURES", "5"))
    LOGIN_BACKOFF_SECONDS = int(os.environ.get("LOGIN_BACKOFF_SECONDS", "30"))
    LOGIN_BACKOFF_MAX_SECONDS = int(os.environ.get("LOGIN_BACKOFF_MAX_SECONDS", "3600"))
    LOGIN_FAILURE_MEMORY_SECONDS = int(os.environ.get("LOGIN_FAILURE_MEMORY_SECONDS", str(24 * 3600)))
    RATELIMIT_ENABLED = True

    # How many reverse proxies in front of the site set X-Forwarded-For/-Proto/-Host. The
    # rate limiter and paradata read the client's address from there only when this is set;
    # with 0 those headers are ignored, so a client cannot choose its own address.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    # Salt for hashing user agents in paradata (the duplicate signal; addresses are never stored),
    # and how many days that hash is kept: the consent page says so, `flask expire-paradata` clears it.
    PARADATA_SALT = os.environ.get("PARADATA_SALT")
    BROWSER_HASH_DAYS = int(os.environ.get("BROWSER_HASH_DAYS", "90"))

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
