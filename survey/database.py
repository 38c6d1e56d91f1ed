"""Engine tuning that depends on the database: SQLite gets WAL, a busy timeout and foreign keys;
PostgreSQL through psycopg 3 gets no server-side prepared statements, and its pooled
connections are checked before use without a round trip (``_closed_while_idle``).

The respondent's hot path runs its few Core statements through psycopg itself (``rows``,
``autocommit_row``): compiled once by SQLAlchemy, bound as SQLAlchemy binds them, in the
same transaction, with SQLAlchemy's errors. SQLAlchemy's execution around a statement cost
more worker CPU than the round trip (docs/performance.md).

Also the URL rule ``<int:...>``: ids in addresses stop at the largest value an integer column
holds, so ``/runs/99999999999999999999`` is a 404 rather than an overflow inside the driver;
``id_argument`` does the same for ids in query parameters, with a 400.
"""
from __future__ import annotations

import select
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _DriverStatement:
    """A Core statement compiled for psycopg, with the bind processors SQLAlchemy would apply."""

    sql: str
    compiled: sa.engine.Compiled
    processors: dict[str, Callable[[Any], Any]]

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        bound = self.compiled.construct_params(params)
        for name, process in self.processors.items():
            bound[name] = process(bound[name])
        return bound

    def error(self, bound: Mapping[str, Any], error: psycopg.Error) -> sa.exc.DBAPIError:
        """The driver's ``error`` as SQLAlchemy would have raised it (``IntegrityError``, ...)."""
        return sa.exc.DBAPIError.instance(self.sql, bound, error, psycopg.Error)


_DRIVER_STATEMENTS: dict[tuple, _DriverStatement] = {}  # kept for good: give ``rows`` module-level statements


def _driver_statement(dialect: sa.Dialect, statement: sa.Executable, keys: frozenset[str]) -> _DriverStatement:
    """``statement`` compiled once per dialect and set of parameter names (an UPDATE's SET
    clause names the columns given). A statement that needs SQLAlchemy's execution context
    (Python-side column defaults, result processing) is refused rather than run differently."""
    cached = _DRIVER_STATEMENTS.get((dialect, statement, keys))
    if cached is not None:
        return cached
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("a statement with Python-side column defaults needs SQLAlchemy's execution")
    for column in getattr(statement, "exported_columns", ()):  # a text() statement has no typed columns
        try:
            processed = column.type.dialect_impl(dialect).result_processor(dialect, None)
        except TypeError:  # a numeric type, whose processing depends on the column's type code
            processed = True
        if processed is not None:
            raise ValueError(f"result column {str(column)!r} needs SQLAlchemy's result processing")
    processors = {}
    for bind, name in compiled.bind_names.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    cached = _DRIVER_STATEMENTS[dialect, statement, keys] = _DriverStatement(str(compiled), compiled, processors)
    return cached


def rows(connection: sa.Connection, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[tuple]:
    """Run ``statement`` in ``connection``'s transaction and return its rows (none for DML).

    ``statement`` is compiled once and kept, so it should be a module-level constant.

    On psycopg, through the driver on that connection (its BEGIN and COMMIT stay
    SQLAlchemy's); a driver error is raised as SQLAlchemy's, and a connection it broke is
    invalidated. Elsewhere, through SQLAlchemy.
    """
    if connection.dialect.driver != "psycopg":
        result = connection.execute(statement, params)
        return result.all() if result.returns_rows else []
    if not connection.in_transaction():
        connection.begin()  # as SQLAlchemy's autobegin would, so the caller's commit() ends what psycopg begins
    driver = connection.connection.driver_connection
    prepared = _driver_statement(connection.dialect, statement, frozenset(params))
    bound = prepared.parameters(params)
    try:
        cursor = driver.execute(prepared.sql, bound)
        return cursor.fetchall() if cursor.description is not None else []
    except psycopg.Error as error:
        if driver.broken:
            connection.invalidate(error)
        raise prepared.error(bound, error) from error


def autocommit_row(statement: sa.Executable, params: Mapping[str, Any]) -> Optional[tuple]:
    """The first row of a one-statement read, outside any transaction.

    On psycopg: on a pooled connection in autocommit, so no BEGIN or ROLLBACK round trip (one
    statement sees one snapshot); a driver error is raised as SQLAlchemy's (the 503 page), and
    a connection it broke leaves the pool. Elsewhere, through the session.
    """
    engine = db.engine
    if engine.dialect.driver != "psycopg":
        return db.session.execute(statement, params).first()
    prepared = _driver_statement(engine.dialect, statement, frozenset(params))
    bound = prepared.parameters(params)
    try:
        pooled = engine.raw_connection()  # connecting fails with the driver's error, too
    except psycopg.Error as error:
        raise prepared.error(bound, error) from error
    driver = pooled.driver_connection
    try:
        driver.autocommit = True
        return driver.execute(prepared.sql, bound).fetchone()
    except psycopg.Error as error:
        if driver.broken:
            pooled.invalidate(error)
        raise prepared.error(bound, error) from error
    finally:
        if not driver.closed:
            driver.autocommit = False
        pooled.close()


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
