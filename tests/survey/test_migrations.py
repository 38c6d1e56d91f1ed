"""The schema only changes through Alembic revisions: head matches the models exactly."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from survey.extensions import db


def test_migrations_reach_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_the_security_review_migration_removes_stored_address_hashes(app):
    """Upgrading a database that holds address hashes leaves none behind; downgrading brings back no values."""
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="fb4fede2a686")
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO surveys (slug, title, definition, source_hash, status, created_at) "
                "VALUES ('s', '{}', '{}', 'x', 'open', CURRENT_TIMESTAMP)"))
            connection.execute(sa.text(
                "INSERT INTO responses (survey_id, resume_token_hash, status, language, current_page, option_orders, "
                "address_hash, simulated, started_at, updated_at) SELECT id, 'r', 'in_progress', 'en', 0, '{}', "
                "'hmac-of-an-address', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM surveys"))
        upgrade()
        assert "address_hash" not in {column["name"] for column in sa.inspect(db.engine).get_columns("responses")}
        downgrade(revision="fb4fede2a686")
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT address_hash FROM responses")).scalars().all() == [None]
        upgrade()


def test_dropping_the_question_tables_loses_nothing(app):
    """The questions and options tables held a copy of the definition: a downgrade refills them from it."""
    from flask_migrate import downgrade, upgrade

    from survey.questionnaires.sync import questionnaire_of
    from tests.support.polls import load_default_survey

    with app.app_context():
        survey = load_default_survey()
        questions = questionnaire_of(survey).questions
        db.session.close()
        downgrade(revision="1ea07c9ab318")
        with db.engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT code, page, type, weighting_variable FROM questions ORDER BY position")).all()
            options = connection.execute(sa.text(
                "SELECT q.code, o.code, o.anchored FROM options o JOIN questions q ON q.id = o.question_id "
                "ORDER BY q.position, o.position")).all()
        upgrade()
    assert rows == [(q.code, q.page, q.type, q.weighting_variable) for q in questions]
    assert options == [(q.code, o.code, o.anchored) for q in questions for o in q.options]


def test_the_quality_facts_migration_fills_in_what_completion_stores(app):
    """Complete responses older than the facts get, from their stored answers, the facts the
    completion stores; a downgrade drops them and the runs' frame hashes."""
    from flask_migrate import downgrade, upgrade

    from survey.models import Response
    from survey.responses.quality_facts import FACT_COLUMNS
    from survey.responses.simulate import simulate
    from tests.support.polls import load_default_survey

    facts = sa.select(Response.id, *(getattr(Response, column) for column in FACT_COLUMNS)).order_by(Response.id)
    with app.app_context():
        simulate(load_default_survey(), 30, seed=3)
        stored = db.session.execute(facts).all()
        db.session.close()
        downgrade(revision="44c2827d67e2")
        columns = {column["name"] for column in sa.inspect(db.engine).get_columns("responses")}
        assert not columns & set(FACT_COLUMNS)
        assert "frame_hash" not in {column["name"] for column in sa.inspect(db.engine).get_columns("weighting_runs")}
        upgrade()
        assert db.session.execute(facts).all() == stored
    assert sum(row[-1] is not None for row in stored) == 30
