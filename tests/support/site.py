"""The site's fixtures: ``app``, ``client`` and ``runner`` on SQLite and PostgreSQL.

The conftests of tests/survey, tests/browser and tests/reliability import them; tests/analysis
does not, so it runs without Flask or SQLAlchemy installed.

Every test that asks for ``app`` runs twice, once on a SQLite file and once on a database
created for this run on the PostgreSQL server named by ``TEST_POSTGRES_URL`` (default:
127.0.0.1:5432, user postgres). When that server cannot be reached the PostgreSQL runs are
skipped, except under CI, where they fail.
"""
from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from survey import create_app
from survey.config import TestingConfig
from survey.extensions import db

__all__ = ["app", "client", "database_url", "default_survey", "make_pollster", "runner", "sign_in"]  # the fixtures

POSTGRES_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _postgres_database() -> Iterator[str]:
    server = sa.make_url(POSTGRES_SERVER)
    name = f"survey_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", pool_pre_ping=True)  # survives a server restart
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable at {server.render_as_string()}: {error.orig}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated, empty database for this run, one per backend."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "survey.db")
        yield from _migrated(url)
    else:
        for url in _postgres_database():
            yield from _migrated(url)


def _migrated(url: str) -> Iterator[str]:
    from flask_migrate import upgrade

    app = app_for(url)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield url


def app_for(url: str, **overrides) -> Flask:
    return create_app({**settings_for_tests(), "SQLALCHEMY_DATABASE_URI": url, **overrides})


def settings_for_tests() -> dict:
    return {key: getattr(TestingConfig, key) for key in dir(TestingConfig) if key.isupper()}


def _empty_tables() -> None:
    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def app(database_url: str, tmp_path) -> Iterator[Flask]:
    """The site on a clean database (tables emptied after each test)."""
    app = app_for(database_url)
    app.instance_path = str(tmp_path / "instance")
    yield app
    with app.app_context():
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


TEST_PASSWORD = "a long test password"


@functools.cache
def _test_password_hash() -> str:
    """An Argon2id hash with the cheapest parameters: verifying reads them from the hash, so
    test sign-ins stay fast while the site's own hashes keep the real cost."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(TEST_PASSWORD)


@pytest.fixture
def default_survey(app: Flask) -> str:
    """The shipped default questionnaire loaded as a draft survey; returns its slug."""
    from survey.questionnaires.loading import default_questionnaire_path, load_file
    from survey.questionnaires.sync import load_into_database

    with app.app_context():
        survey = load_into_database(load_file(default_questionnaire_path()), db.session)
        db.session.commit()
        return survey.slug


@pytest.fixture
def make_pollster(app: Flask):
    """``make_pollster(email, *slugs)``: a pollster owning those surveys, password ``TEST_PASSWORD``; returns its id."""
    from survey.models import Pollster, Survey

    def make(email: str, *slugs: str) -> int:
        with app.app_context():
            pollster = Pollster(email=email, password_hash=_test_password_hash())
            pollster.surveys = list(db.session.scalars(sa.select(Survey).where(Survey.slug.in_(slugs))))
            db.session.add(pollster)
            db.session.commit()
            return pollster.id

    return make


@pytest.fixture
def sign_in():
    """``sign_in(client, email)``: sign a pollster in through the login form."""

    def sign_in(client, email: str, password: str = TEST_PASSWORD):
        return client.post("/pollster/login", data={"email": email, "password": password})

    return sign_in
