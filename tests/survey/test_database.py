"""Core statements run through psycopg itself (``survey.database.rows``, ``autocommit_row``):
bound and read as SQLAlchemy would, in the same transaction, with SQLAlchemy's errors."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from survey import database
from survey.extensions import db
from survey.models import Response

TYPED = sa.select(
    sa.bindparam("document", type_=sa.JSON).label("document"),
    sa.bindparam("moment", type_=sa.DateTime(timezone=True)).label("moment"),
    sa.literal("a").label("kind"),
    sa.bindparam("number", type_=sa.Integer).label("number"),
)
INSERT = sa.insert(Response.__table__)
VALUES = {"document": {"calexit": ["leave", "stay"], "n": 3}, "moment": datetime(2026, 11, 29, 12, tzinfo=timezone.utc),
          "number": 7}


def test_rows_are_what_sqlalchemy_reads(app):
    with app.app_context():
        connection = db.session.connection()
        expected = [tuple(row) for row in connection.execute(TYPED, VALUES)]
        got = [tuple(row) for row in database.rows(connection, TYPED, VALUES)]
        db.session.rollback()
    assert got == expected
    assert got[0][0] == VALUES["document"] and got[0][3] == 7


def test_a_driver_row_outside_a_transaction_is_what_sqlalchemy_reads(app):
    with app.app_context():
        expected = tuple(db.session.execute(TYPED, VALUES).first())
        db.session.rollback()
        assert tuple(database.autocommit_row(TYPED, VALUES)) == expected


def test_a_driver_error_in_a_transaction_is_sqlalchemys_and_the_session_goes_on(app):
    failing = sa.text("SELECT 1 / :zero")
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite divides by zero without an error")
        with pytest.raises(sa.exc.DataError, match="division by zero"):
            database.rows(db.session.connection(), failing, {"zero": 0})
        db.session.rollback()
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1


def test_an_update_sets_the_columns_given_and_binds_json_as_sqlalchemy_does(app, default_survey):
    """The SET clause follows the parameters' names (compiled once per set of names)."""
    responses = Response.__table__
    update = sa.update(responses).where(responses.c.id == sa.bindparam("response_id"))
    with app.app_context():
        survey_id = db.session.scalar(sa.text("SELECT id FROM surveys"))
        response = Response(survey_id=survey_id, resume_token_hash="h", status="in_progress", language="en",
                            current_page=0, simulated=False, started_at=datetime.now(timezone.utc))
        db.session.add(response)
        db.session.commit()
        orders = {"issues": ["water", "economy"]}
        moment = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
        database.rows(db.session.connection(), update,
                      {"response_id": response.id, "option_orders": orders, "updated_at": moment})
        database.rows(db.session.connection(), update,
                      {"response_id": response.id, "language": "es", "updated_at": moment})
        db.session.commit()
        stored = db.session.execute(
            sa.select(responses.c.option_orders, responses.c.language).where(responses.c.id == response.id)
        ).one()
    assert tuple(stored) == (orders, "es")


@pytest.mark.parametrize("statement, why", [
    (sa.update(Response.__table__).values(language=sa.bindparam("language")), "Python-side column defaults"),
    (sa.select(sa.literal(1.5, sa.Float)), "result processing"),
])
def test_a_statement_that_needs_sqlalchemys_execution_is_refused(statement, why):
    with pytest.raises(ValueError, match=why):
        database._driver_statement(postgresql.psycopg.dialect(), statement, frozenset({"language"}))


def test_rows_on_a_fresh_connection_are_committed_by_its_commit(app, default_survey):
    """``rows`` begins the connection's transaction as SQLAlchemy's autobegin would."""
    responses = Response.__table__
    with app.app_context():
        survey_id = db.session.scalar(sa.text("SELECT id FROM surveys"))
        db.session.rollback()
        values = {"survey_id": survey_id, "resume_token_hash": "fresh", "status": "in_progress", "language": "en",
                  "current_page": 0, "option_orders": {}, "simulated": False,
                  "started_at": datetime.now(timezone.utc), "updated_at": datetime.now(timezone.utc)}
        with db.engine.connect() as connection:
            database.rows(connection, INSERT, values)
            connection.commit()
        with db.engine.connect() as connection:
            assert connection.scalar(sa.select(sa.func.count()).select_from(responses)
                                     .where(responses.c.resume_token_hash == "fresh")) == 1
