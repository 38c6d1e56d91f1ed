"""The survey site: respondents answer questionnaires, pollsters weight and publish."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask
from flask_babel import force_locale, get_translations
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from survey import database, security
from survey.config import Config
from survey.extensions import babel, csrf, db, limiter, login, migrate, select_locale


def create_app(config: type[Config] | dict | None = None) -> Flask:
    """Build the application; it creates no tables and runs no migrations."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    _settle_secrets(app)
    if app.config.get("PRODUCTION") and not (app.config.get("TRUSTED_HOSTS") or app.config.get("SERVER_NAME")):
        raise RuntimeError(
            "TRUSTED_HOSTS must be set in the environment when SURVEY_ENV=production: the host names the site "
            "answers to, comma-separated (e.g. survey.example.org), so a forged Host header cannot reach a link"
        )
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "survey.db")
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = database.engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    )
    if app.config.get("TRUSTED_PROXIES"):
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    if app.config.get("REDIS_URL") and "RATELIMIT_STORAGE_URI" not in app.config:
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    security.init_app(app)  # before csrf: its body limit must hold before the CSRF check reads the form
    csrf.init_app(app)
    # Templates get current_user unloaded: Flask-Login's own context processor loads it for every
    # page, and its session protection then rewrote a respondent's session cookie on each one
    login.init_app(app, add_context_processor=False)
    app.context_processor(lambda: {"current_user": current_user})
    limiter.init_app(app)
    _limit_only_marked_routes(app)
    babel.init_app(app, locale_selector=select_locale)

    from survey import errors, models  # noqa: F401  (models register their tables)
    from survey.cli import register_commands
    from survey.api import register as register_api
    from survey.pollster import bp as pollster_bp
    from survey.respond import bp as respond_bp

    database.init_app(app)
    errors.init_app(app)
    app.register_blueprint(respond_bp)
    app.register_blueprint(pollster_bp)
    register_api(app)
    register_commands(app)
    return app


def warm_up(app: Flask) -> None:
    """Compile every template and load every translation now, in the process that will fork.

    Under ``gunicorn --preload`` each worker then starts with them ready (and shared), rather
    than the first respondents of every worker, new or recycled, waiting while they compile.
    Opens no database connection: that must not cross the fork.
    """
    for name in app.jinja_env.list_templates(extensions=["html"]):
        app.jinja_env.get_template(name)
    with app.test_request_context():
        for language in app.config["LANGUAGES"]:
            with force_locale(language):
                get_translations()


def _settle_secrets(app: Flask) -> None:
    """Refuse to run in production without real secrets; in development keep one per instance."""
    for key in ("SECRET_KEY", "PARADATA_SALT"):
        if app.config.get(key):
            if app.config.get("PRODUCTION"):
                _refuse_weak_secret(key, str(app.config[key]))
            continue
        if app.config.get("PRODUCTION"):
            raise RuntimeError(f"{key} must be set in the environment when SURVEY_ENV=production")
        path = Path(app.instance_path) / key.lower()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        app.config[key] = path.read_text().strip()


PLACEHOLDER_WORDS = ("change", "secret", "example", "default", "password", "testing", "insecure")
MIN_SECRET_LENGTH = 32


def _refuse_weak_secret(key: str, value: str) -> None:
    """A production secret must be long and random, not a value copied from a tutorial."""
    lowered = value.lower()
    if len(value) < MIN_SECRET_LENGTH or any(word in lowered for word in PLACEHOLDER_WORDS) or len(set(value)) < 10:
        raise RuntimeError(
            f"{key} looks like a placeholder or is too short ({len(value)} characters); in production set it to "
            f"at least {MIN_SECRET_LENGTH} random characters, e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`"
        )


def _limit_only_marked_routes(app: Flask) -> None:
    """Drop Flask-Limiter's check of every request when no default or application-wide limit is set.

    The site's limits are per route (``@limiter.limit``), and the decorator checks those
    itself; the before-request check only applies default and application limits, so
    without them it is work for nothing on every respondent page (about 0.2 ms of CPU).
    """
    if app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION"):
        return
    checks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in checks:  # not registered when RATELIMIT_ENABLED is off
        checks.remove(limiter._check_request_limit)
