"""bench/load.py works: a small run against gunicorn on SQLite loses and duplicates nothing.

The benchmark itself (200+ respondents, PostgreSQL, the ceiling) runs outside pytest; this
proves the machinery that it relies on, including its audit, on every test run.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis

from loadtest.audit import audit
from loadtest.client import Outcome
from loadtest.pages import token_hash
from tests.reliability.conftest import ROOT

REDIS_FOR_TESTS = "redis://127.0.0.1:6379/14"


def _redis_or_none() -> str:
    try:
        redis.Redis.from_url(REDIS_FOR_TESTS, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return "none"  # the limiter then counts in each worker's memory; the run is still audited
    return REDIS_FOR_TESTS


@pytest.mark.slow
def test_ten_respondents_on_sqlite_are_stored_exactly_once(tmp_path):
    report = tmp_path / "load.json"
    redis_url = _redis_or_none()
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--backends", "sqlite", "--respondents", "10",
         "--concurrency", "5", "--workers", "2", "--ceiling-requests", "100", "--redis-url", redis_url, "--json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [result] = json.loads(report.read_text())
    assert result["errors"] == 0, result["error_examples"]
    assert result["audit"]["clean"], result["audit"]
    assert result["audit"]["acknowledged"] == 10
    assert result["audit"]["stored_complete"] == result["audit"]["stored_responses"] == 10
    assert result["page_submits"]["requests"] >= 10 * 7  # every respondent went page by page (7 or 8 pages)
    if redis_url != "none":
        assert result["redis_keys"] >= 1, "the limiter did not count in Redis"
    assert "page submits" in run.stdout and "audit:" in run.stdout
    cpu = result["cpu_ms_per_request"]  # read from /proc: the workers' and the client's share of the cores
    assert cpu["server"] > 0 and cpu["client"] > 0 and "CPU per request" in run.stdout
    # the bare endpoint served alongside got a GET with every site request, and its workers' CPU was counted
    assert result["paired_errors"] == 0 and result["paired_cpu_ms_per_request"]["server"] > 0
    assert result["worker_ratio"] == pytest.approx(cpu["server"] / result["paired_cpu_ms_per_request"]["server"])
    assert "at the same requests and moments" in run.stdout


def test_the_audit_finds_a_lost_an_altered_and_a_stray_response(tmp_path):
    """The audit can fail: it is fed a database that disagrees with what was acknowledged."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE surveys (id INTEGER PRIMARY KEY, slug TEXT)"))
        connection.execute(sa.text(
            "CREATE TABLE responses (id INTEGER PRIMARY KEY, survey_id INTEGER, resume_token_hash TEXT, status TEXT)"
        ))
        connection.execute(sa.text("CREATE TABLE answers (response_id INTEGER, question_code TEXT, value JSON)"))
        connection.execute(sa.text("CREATE TABLE page_visits (response_id INTEGER, page TEXT)"))
        connection.execute(sa.text("INSERT INTO surveys VALUES (1, 's')"))
        rows = [(1, token_hash("altered"), "complete"), (2, token_hash("stray"), "complete")]
        for row in rows:
            connection.execute(sa.text("INSERT INTO responses VALUES (:id, 1, :hash, :status)"),
                               {"id": row[0], "hash": row[1], "status": row[2]})
        connection.execute(sa.text("""INSERT INTO answers VALUES (1, 'calexit', '"no"')"""))
        connection.execute(sa.text("INSERT INTO page_visits VALUES (1, 'calexit'), (1, 'calexit')"))
    engine.dispose()
    outcomes = [
        Outcome(0, started=True, resume_token="altered", answers={"calexit": "yes"}, pages=["calexit"], completed=True),
        Outcome(1, started=True, resume_token="lost", answers={"calexit": "no"}, pages=["calexit"], completed=True),
    ]
    found = audit(url, "s", outcomes)
    assert not found.clean
    assert len(found.lost) == 1 and "respondent 1" in found.lost[0]
    assert len(found.altered) == 1 and "respondent 0" in found.altered[0]
    assert any("timed twice" in problem for problem in found.duplicated)
    assert found.stray
