"""The site as ``wsgi.py`` serves it, plus a trap for fault tests: pause inside one SQL statement.

While the file named by ``FAULT_ARM_FILE`` exists, the first worker to execute a statement
containing its text (e.g. ``INSERT INTO answers``) writes its pid to ``FAULT_PAUSED_FILE`` and
sleeps, holding its transaction open, so the test can SIGKILL it in the middle of a
submission. The trap fires once per arming (the test removes the paused file to re-arm).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import sqlalchemy as sa

from survey import create_app
from survey.extensions import db

app = create_app()
ARM_FILE = os.environ.get("FAULT_ARM_FILE")
PAUSED_FILE = os.environ.get("FAULT_PAUSED_FILE")


def _pause_when_armed(statement: str) -> None:
    armed = Path(ARM_FILE)
    if not armed.exists():
        return
    try:
        trigger = armed.read_text()
    except FileNotFoundError:
        return
    if not trigger or trigger not in statement:
        return
    try:
        descriptor = os.open(PAUSED_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return  # another worker is already the one paused
    with os.fdopen(descriptor, "w") as paused:
        paused.write(str(os.getpid()))
    time.sleep(60)  # the test kills this worker long before


class _TrappedCursor(psycopg.Cursor):
    """Pauses after a statement runs, whether SQLAlchemy or the site's driver path sent it."""

    def execute(self, query, params=None, **kwargs):
        result = super().execute(query, params, **kwargs)
        _pause_when_armed(query if isinstance(query, str) else str(query))
        return result


def _trap_cursors(dbapi_connection, _record) -> None:
    dbapi_connection.cursor_factory = _TrappedCursor


def _after_execute(_connection, _cursor, statement, *_) -> None:
    _pause_when_armed(statement)


if ARM_FILE and PAUSED_FILE:
    with app.app_context():
        if db.engine.dialect.driver == "psycopg":  # the respondent's statements go through psycopg itself
            sa.event.listen(db.engine, "connect", _trap_cursors)
        else:
            sa.event.listen(db.engine, "after_cursor_execute", _after_execute)
