"""Engine tuning that depends on the database: SQLite gets WAL, a busy timeout and foreign keys;
PostgreSQL through psycopg 3 gets no server-side prepared statements, and its pooled
connections are checked before use without a round trip (``_closed_while_idle``).

Also the URL rule ``<int:...>``: ids in addresses stop at the largest value an integer column
holds, so ``/runs/99999999999999999999`` is a 404 rather than an overflow inside the driver;
``id_argument`` does the same for ids in query parameters, with a 400.
"""
from __future__ import annotations

import select
from collections.abc import Mapping
from typing import Any, Optional

import psycopg
import sqlalchemy as sa
from flask import Flask, abort, request
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
    elif not url.startswith("sqlite"):  # another driver: the pool's ping, a round trip per checkout
        options.setdefault("pool_pre_ping", True)
    return options


def _closed_while_idle(dbapi_connection, _record, _proxy) -> None:
    """Replace a pooled psycopg connection that the server closed while it sat in the pool.

    A PostgreSQL server that restarts, or ends an idle session, sends the connection an error
    and closes it, so its socket turns readable while nothing is asked of it. Looking at the
    socket costs no round trip, where ``pool_pre_ping`` sent a ``SELECT 1`` with every request
    (a tenth of a page view's worker CPU, docs/performance.md). ``DisconnectionError`` makes
    the pool connect anew (and a server that is down gives the usual 503).
    """
    try:
        socket = dbapi_connection.pgconn.socket
    except psycopg.OperationalError:
        raise sa.exc.DisconnectionError("the connection is closed") from None
    idle_check = select.poll()
    idle_check.register(socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    if dbapi_connection.broken or idle_check.poll(0):
        raise sa.exc.DisconnectionError("the server closed the connection while it was idle in the pool")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


MAX_ID = 2**31 - 1  # the id columns are 32-bit on SQLite's and PostgreSQL's side alike


class DatabaseIntegerConverter(IntegerConverter):
    """``<int:...>`` limited to the range of the id columns."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def id_argument(name: str) -> Optional[int]:
    """The row id in query parameter ``name``: None when absent, a 400 when no row could have it."""
    text = request.args.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= MAX_ID):
        abort(400, description=f"?{name}= must be a number between 1 and {MAX_ID}.")
    return int(text)


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseIntegerConverter  # before the blueprints add their rules
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not sa.event.contains(engine, "connect", _sqlite_pragmas):
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        if engine.dialect.driver == "psycopg" and not sa.event.contains(engine, "checkout", _closed_while_idle):
            sa.event.listen(engine, "checkout", _closed_while_idle)
