"""Faults under a running site: a worker killed mid-submission, PostgreSQL restarted, no database at all.

What must hold whatever happens: every answer the site acknowledged is stored, the resume link
continues the survey where it stopped, nothing half-saved is left behind, no response is
completed twice, and a person sees a friendly page rather than a traceback.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.reliability.conftest import Browser, served, stored_for, stored_responses
from tests.support.site import app_for

SLUG = "california-2025"
COMPLETION = "UPDATE responses SET status"  # the conditional UPDATE in respond.service.complete
PAGE_SAVE = "INSERT INTO answers"


def _kill_when_paused(paused: Path, timeout: float = 20.0) -> int:
    """Wait for the trap in fault_wsgi to catch a worker inside its transaction, then SIGKILL it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if paused.exists() and paused.read_text():
            pid = int(paused.read_text())
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.02)
    raise AssertionError(f"no worker reached the armed statement within {timeout:.0f} s")


def _send_all_while_killing(browsers: list[Browser], tmp_path: Path, statement: str) -> list[Browser]:
    """Everyone submits the page in hand at once; the worker that reaches ``statement`` first is killed.

    Returns the browsers whose submission was cut off (no acknowledgement).
    """
    armed, paused = tmp_path / "fault-armed", tmp_path / "fault-paused"
    for browser in browsers:
        browser.fill()
    paused.unlink(missing_ok=True)
    armed.write_text(statement)

    def send(browser: Browser) -> bool:
        try:
            return browser.send().status_code == 302
        except requests.ConnectionError:
            return False

    with ThreadPoolExecutor(len(browsers)) as pool:
        futures = [pool.submit(send, browser) for browser in browsers]
        _kill_when_paused(paused)
        armed.unlink()
        acknowledged = [future.result(timeout=60) for future in futures]
    cut_off = [browser for browser, ok in zip(browsers, acknowledged) if not ok]
    assert len(cut_off) == 1, f"expected exactly the killed worker's request to fail, {len(cut_off)} failed"
    return cut_off


def _each(browsers: list[Browser], action) -> None:
    """Run ``action`` for every browser at once (they are independent respondents)."""
    with ThreadPoolExecutor(len(browsers)) as pool:
        for done in [pool.submit(action, browser) for browser in browsers]:
            done.result(timeout=120)


def _walk_to_last_page(browser: Browser) -> None:
    while not browser.path.endswith("/p/comments"):
        assert browser.step().status_code == 302, browser.path


@pytest.mark.slow
def test_a_worker_killed_mid_submission_loses_nothing_acknowledged(database, tmp_path):
    with served(database, tmp_path, workers=2) as base_url:
        browsers = [Browser(base_url, number) for number in range(3)]
        _each(browsers, lambda browser: (browser.start(SLUG), browser.step(), browser.step()))

        # 1. Killed while a page's answers are being written: that page is not stored at all.
        [victim] = _send_all_while_killing(browsers, tmp_path, PAGE_SAVE)
        interrupted_page = victim.path
        stored = stored_for(victim, database)
        assert stored["answers"] == victim.acknowledged, "a half-saved page or a lost acknowledged answer"
        assert stored["status"] == "in_progress"
        resumed = victim.resume_elsewhere()
        assert resumed.path == interrupted_page, "the resume link must reopen the page that was cut off"
        browsers[browsers.index(victim)] = resumed

        # 2. Everyone reaches the last page; killed during completion, then the respondent retries.
        _each(browsers, _walk_to_last_page)
        [victim] = _send_all_while_killing(browsers, tmp_path, COMPLETION)
        assert stored_for(victim, database)["status"] == "in_progress", "completion was cut off before its commit"
        retry = victim.send()  # the browser's "resubmit the form?" after the error
        assert retry.status_code == 302 and victim.finished
        completed_at = stored_for(victim, database)["completed_at"]
        double_click = victim.request("POST", f"/s/{SLUG}/p/comments", data=victim.posted)
        assert double_click.status_code == 302 and double_click.headers["Location"].endswith("/thanks")

    responses = stored_responses(database)
    assert len(responses) == len(browsers), "a stray or missing response"
    for browser in browsers:
        assert browser.finished
        stored = stored_for(browser, database)
        assert stored["status"] == "complete"
        assert stored["answers"] == browser.acknowledged
        assert sorted(stored["pages"]) == sorted(set(stored["pages"])), "a page timed twice"
    assert stored_for(victim, database)["completed_at"] == completed_at, "completed a second time"


def _postgres_cluster() -> tuple[str, str]:
    """(version, name) of the local PostgreSQL cluster, or skip when this machine cannot restart it."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir() or os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs root and Debian's pg_ctlcluster with a cluster in /etc/postgresql")
    versions = sorted(os.listdir("/etc/postgresql"))
    return versions[-1], "main"


def _pg_ctl(action: str) -> None:
    version, name = _postgres_cluster()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action, *(["-m", "fast"] if action == "stop" else [])],
        check=True, capture_output=True, timeout=60,
    )


def _wait_for_postgres(database_url: str, timeout: float = 60.0) -> None:
    engine = sa.create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(sa.text("SELECT 1"))
                return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.exclusive
def test_postgresql_restarted_during_a_run(database, tmp_path):
    if not database.startswith("postgresql"):
        pytest.skip("restarts the PostgreSQL server: runs with the PostgreSQL database only")
    _postgres_cluster()
    with served(database, tmp_path, workers=2) as base_url:
        browsers = [Browser(base_url, number) for number in range(3)]
        _each(browsers, lambda browser: (browser.start(SLUG), browser.step()))
        before = {browser.number: dict(browser.acknowledged) for browser in browsers}
        try:
            _pg_ctl("stop")
            for browser in browsers:
                browser.fill()
                outage = browser.send()
                assert outage.status_code == 503, outage.status_code
                assert "briefly unavailable" in outage.text and "Traceback" not in outage.text
                assert "psycopg" not in outage.text and "OperationalError" not in outage.text
                assert browser.acknowledged == before[browser.number]
        finally:
            _pg_ctl("start")
            _wait_for_postgres(database)

        for browser in browsers:
            stored = stored_for(browser, database)
            assert stored["answers"] == before[browser.number], "an answer acknowledged before the restart is gone"
        for browser in browsers[:-1]:
            assert browser.send().status_code == 302  # the same form, sent again once the database is back
        browsers[-1] = resumed = browsers[-1].resume_elsewhere()
        _each(browsers, Browser.finish)
        again = resumed.request("POST", f"/s/{SLUG}/p/comments", data=resumed.posted)
        assert again.headers["Location"].endswith("/thanks")

    responses = stored_responses(database)
    assert len(responses) == len(browsers)
    for browser in browsers:
        stored = stored_for(browser, database)
        assert stored["status"] == "complete"
        assert stored["answers"] == browser.acknowledged
        assert sorted(stored["pages"]) == sorted(set(stored["pages"])), "a page timed twice"


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/"), ("GET", f"/s/{SLUG}"), ("POST", f"/s/{SLUG}/consent"), ("GET", "/r/some-resume-token"),
     ("POST", "/pollster/login")],
)
def test_no_database_is_a_friendly_503_page(method, path):
    site = app_for("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", TESTING=False)
    data = {"email": "someone@example.org", "password": "a long password"} if method == "POST" else None
    response = site.test_client().open(path, method=method, data=data)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "briefly unavailable" in page and "<html" in page.lower()
    for leak in ("Traceback", "psycopg", "OperationalError", "127.0.0.1:1", "SELECT"):
        assert leak not in page


def test_no_database_is_a_friendly_503_for_a_respondent_on_a_page():
    """A page view of a respondent with a response reads through the driver (``database.autocommit_row``)."""
    site = app_for("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", TESTING=False)
    client = site.test_client()
    with client.session_transaction() as session:
        session["respondent"] = {SLUG: ["r", "a-resume-token"]}
    response = client.get(f"/s/{SLUG}/p/calexit")
    assert response.status_code == 503
    assert "briefly unavailable" in response.get_data(as_text=True)


def test_a_failed_page_view_read_leaves_a_usable_connection(app):
    """A statement that fails in the driver is raised as SQLAlchemy's error, and the pooled
    connection goes back out of autocommit, ready for the next request's transaction."""
    import sqlalchemy as sa

    from survey import database
    from survey.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("page views read through psycopg on PostgreSQL")
        db.engine.dispose()
        with pytest.raises(sa.exc.DataError, match="division by zero"):
            database.autocommit_row(sa.text("SELECT 1 / :zero"), {"zero": 0})
        with db.engine.connect() as connection:
            assert not connection.connection.driver_connection.autocommit
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1


def test_no_database_is_a_json_503_for_the_api():
    site = app_for("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", TESTING=False)
    response = site.test_client().get("/api/surveys", headers={"Authorization": "Bearer svy_not-a-real-token"})
    assert response.status_code == 503
    assert response.json["error"]["code"] == 503
    assert "psycopg" not in response.get_data(as_text=True)
