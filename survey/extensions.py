"""Flask extensions, created unbound here and bound in ``create_app``."""
from __future__ import annotations

import functools

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header


class Base(so.DeclarativeBase):
    # Stable constraint names, so Alembic can alter them on SQLite and PostgreSQL alike.
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate(compare_type=True, render_as_batch=True)
csrf = CSRFProtect()
login = LoginManager()
limiter = Limiter(key_func=get_remote_address)


def select_locale() -> str:
    """The respondent's choice if made, else the browser's preference."""
    from flask import current_app

    languages = tuple(current_app.config["LANGUAGES"])
    chosen = (request.args.get("lang") if request.query_string else None) or session.get("lang")
    if chosen in languages:
        return chosen
    return _preferred(request.headers.get("Accept-Language", ""), languages)


@functools.lru_cache(maxsize=512)
def _preferred(accept_language: str, languages: tuple[str, ...]) -> str:
    """The best of ``languages`` for an ``Accept-Language`` header. Browsers send a few such
    headers over and over, and this runs on every request, so each is parsed once."""
    return parse_accept_header(accept_language, LanguageAccept).best_match(languages) or languages[0]


babel = Babel()
