"""Engine tuning that depends on the database: SQLite gets WAL, a busy timeout and foreign keys;
PostgreSQL through psycopg 3 gets no server-side prepared statements.

Also the URL rule ``<int:...>``: ids in addresses stop at the largest value an integer column
holds, so ``/runs/99999999999999999999`` is a 404 rather than an overflow inside the driver.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.routing import IntegerConverter

from survey.extensions import db


def engine_options(url: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The configured engine options plus what the database at ``url`` needs.

    psycopg 3 prepares a statement once it has run five times, but forgets every prepared
    statement at each ROLLBACK, which ends every read-only request: the site paid for PREPARE
    and DEALLOCATE ALL round trips and reused no plan. Prepared statements also fail behind
    PgBouncer in transaction mode (docs/deploy.md).
    """
    options = dict(options)
    if sa.make_url(url).drivername == "postgresql+psycopg":
        options["connect_args"] = {"prepare_threshold": None, **options.get("connect_args", {})}
    return options


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class DatabaseIntegerConverter(IntegerConverter):
    """``<int:...>`` limited to the 32-bit range of the id columns (SQLite and PostgreSQL alike)."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseIntegerConverter  # before the blueprints add their rules
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not sa.event.contains(engine, "connect", _sqlite_pragmas):
            sa.event.listen(engine, "connect", _sqlite_pragmas)
