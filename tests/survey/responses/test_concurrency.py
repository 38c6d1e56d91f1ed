"""Fifty simultaneous requests on one invitation token end in exactly one response, completed once.

The guarantees are the database's (unique ``invitation_id``, a conditional UPDATE under a
CHECK constraint, a row lock while a page is saved), so the browser-level test runs on
PostgreSQL, where requests really do run side by side.
"""
from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from survey import create_app
from survey.extensions import db
from survey.models import Invitation, Response, Survey, utcnow
from survey.responses import service, tokens
from tests.support.respondents import Respondent

THREADS = 50


@pytest.fixture
def wide_app(app):
    """The site with a connection for every thread, so all of them really run at once."""
    wide = create_app(
        {**app.config, "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": THREADS, "max_overflow": 5, "pool_pre_ping": True}}
    )
    yield wide
    with wide.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def postgres_only(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite runs one writer at a time; the race is tested on PostgreSQL")


@pytest.fixture
def invitation_link(app, small_survey) -> str:
    with app.app_context():
        survey_id = db.session.scalar(sa.select(Survey.id).where(Survey.slug == small_survey))
        token = tokens.new_token()
        db.session.add(Invitation(survey_id=survey_id, panel_id="P-1", token_hash=tokens.token_hash(token)))
        db.session.commit()
    return f"/i/{token}"


def _together(work, count: int = THREADS) -> list:
    """Run ``work(barrier)`` in ``count`` threads that wait for each other before the critical request."""
    barrier = threading.Barrier(count, timeout=60)
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: work(barrier), range(count)))


def test_fifty_browsers_start_and_finish_one_token(wide_app, postgres_only, small_survey, invitation_link):
    app = wide_app

    def start(barrier):
        browser = Respondent(app.test_client(), small_survey)
        browser.open(invitation_link)
        barrier.wait()
        return browser.post(invitation_link, browser.form_fields()).status_code

    assert _together(start) == [302] * THREADS
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1

    guide = Respondent(app.test_client(), small_survey)
    guide.open(invitation_link)
    guide.answer({"resident": "yes"})
    guide.answer({"calexit": "remain"})
    assert guide.page_id == "closing"

    def finish(barrier):
        browser = Respondent(app.test_client(), small_survey)
        browser.open(invitation_link)
        assert browser.page_id == "closing"
        barrier.wait()
        response = browser.submit({"attention": "blue", "age": "61"})
        return response.status_code, response.location

    outcomes = Counter(_together(finish))
    assert outcomes == Counter({(302, f"/s/{small_survey}/thanks"): THREADS})
    with app.app_context():
        stored = db.session.scalars(sa.select(Response)).one()
        assert stored.status == "complete" and stored.completed_at is not None
        assert service.progress(stored).answers["age"] == 61


def test_fifty_concurrent_completions_of_one_response_succeed_once(wide_app, small_survey):
    """Straight through the service: of many simultaneous ``complete`` calls exactly one returns True."""
    app = wide_app
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == small_survey))
        response, _ = service.start_response(survey, language="en")
        for page_id, answers in (
            ("eligibility", {"resident": "yes"}),
            ("opinions", {"calexit": "remain"}),
            ("closing", {"attention": "blue", "age": 40}),
        ):
            service.save_page(response, page_id, answers, shown_at=utcnow())
        response_id = response.id

    def complete(barrier):
        with app.app_context():
            row = db.session.get(Response, response_id)
            barrier.wait()
            try:
                return service.complete(row)
            finally:
                db.session.remove()

    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    results = _together(complete, count=10 if sqlite else THREADS)  # SQLite: fewer, it queues writers
    assert results.count(True) == 1
    with app.app_context():
        assert db.session.get(Response, response_id).status == "complete"
