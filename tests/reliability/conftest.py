"""Fixtures for reliability tests: the site served by gunicorn, and respondents' browsers over HTTP.

The browsers answer the way the load test's simulated respondents do (``loadtest.pages`` reads the
forms and chooses the answers), but one request at a time, so a test can put a fault between
any two of them.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import sqlalchemy as sa

from loadtest.pages import choose_answers, read_form, stored_form, token_hash
from loadtest.servers import ServerSettings, gunicorn, site_environment
from survey.questionnaires.loading import default_questionnaire_path, load_file
from tests.support.site import *  # noqa: F401,F403  (the site's fixtures, listed in its __all__)

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = load_file(default_questionnaire_path())


@contextlib.contextmanager
def served(database_url: str, tmp_path: Path, *, workers: int = 2) -> Iterator[str]:
    """The site under gunicorn on ``database_url``, with the fault trap of ``fault_wsgi`` (see there)."""
    env = site_environment(database_url, None)
    env["FAULT_ARM_FILE"] = str(tmp_path / "fault-armed")
    env["FAULT_PAUSED_FILE"] = str(tmp_path / "fault-paused")
    with gunicorn("tests.reliability.fault_wsgi:app", env, ServerSettings(workers=workers)) as server:
        yield server.url


class Browser:
    """One respondent's browser: its own cookies, the page in hand, and what the site acknowledged."""

    def __init__(self, base_url: str, number: int, questionnaire=QUESTIONNAIRE):
        self.base_url = base_url
        self.number = number
        self.questionnaire = questionnaire
        self.http = requests.Session()
        self.rng = random.Random(number)
        self.path: Optional[str] = None  # the page in hand
        self.html = ""
        self.form = None
        self.posted: list[tuple[str, str]] = []  # the last submission, for a retry
        self.pending: dict[str, Any] = {}
        self.resume_token: Optional[str] = None
        self.acknowledged: dict[str, Any] = {}  # answers the site acknowledged, by question code

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, urljoin(self.base_url, path), allow_redirects=False, timeout=30, **kwargs)

    def start(self, slug: str) -> None:
        consent = f"/s/{slug}/consent"
        page = self.request("GET", consent)
        assert page.status_code == 200, page.status_code
        started = self.request("POST", consent, data={**read_form(page.text).hidden, "website": ""})
        assert started.status_code == 302, started.status_code
        self.open(started.headers["Location"])

    def open(self, path: str) -> None:
        """GET ``path`` and follow the site's redirects to the page to show."""
        for _ in range(5):
            response = self.request("GET", path)
            if response.status_code != 302:
                break
            path = response.headers["Location"]
        assert response.status_code == 200, (path, response.status_code)
        self.path, self.html = urlsplit(path).path, response.text
        self.form = read_form(self.html)
        if self.form.resume_link and not self.resume_token:
            self.resume_token = self.form.resume_link.rsplit("/", 1)[-1]

    @property
    def finished(self) -> bool:
        return bool(self.path) and self.path.endswith("/thanks")

    def fill(self) -> None:
        """Choose the answers to the page in hand (kept for a retry of the same submission)."""
        answers = choose_answers(self.form, self.questionnaire, self.rng, self.number)
        self.pending = stored_form(self.questionnaire, answers)
        self.posted = list({**self.form.hidden, "website": ""}.items())
        for name, value in answers.items():
            self.posted += [(name, item) for item in value] if isinstance(value, list) else [(name, value)]

    def send(self) -> requests.Response:
        """POST the filled page (again, for a retry); on the site's acknowledgement, move on."""
        response = self.request("POST", self.path, data=self.posted)
        if response.status_code == 302:
            self.acknowledged.update(self.pending)
            self.open(response.headers["Location"])
        return response

    def step(self) -> requests.Response:
        self.fill()
        return self.send()

    def finish(self) -> None:
        for _ in range(len(self.questionnaire.pages) + 1):
            if self.finished:
                return
            assert self.step().status_code == 302, self.path
        assert self.finished

    def resume_elsewhere(self) -> "Browser":
        """The same respondent on another device, through the resume link."""
        other = Browser(self.base_url, self.number, self.questionnaire)
        other.rng, other.acknowledged, other.resume_token = self.rng, self.acknowledged, self.resume_token
        other.open(f"/r/{self.resume_token}")
        return other


def stored_responses(database_url: str) -> dict[str, dict[str, Any]]:
    """Every stored response by resume-token hash: status, completion time, answers and timed pages."""
    engine = sa.create_engine(database_url)
    tables = sa.MetaData()
    responses, answers, visits = (sa.Table(name, tables, autoload_with=engine) for name in ("responses", "answers", "page_visits"))
    with engine.connect() as connection:
        found = {
            row.resume_token_hash: {"id": row.id, "status": row.status, "completed_at": row.completed_at, "answers": {}, "pages": []}
            for row in connection.execute(sa.select(responses))
        }
        by_id = {entry["id"]: entry for entry in found.values()}
        for row in connection.execute(sa.select(answers.c.response_id, answers.c.question_code, answers.c.value)):
            by_id[row.response_id]["answers"][row.question_code] = row.value
        for row in connection.execute(sa.select(visits.c.response_id, visits.c.page)):
            by_id[row.response_id]["pages"].append(row.page)
    engine.dispose()
    return found


def stored_for(browser: Browser, database_url: str) -> dict[str, Any]:
    return stored_responses(database_url)[token_hash(browser.resume_token)]


@pytest.fixture
def database(app) -> str:
    """The test database's URL (SQLite and PostgreSQL runs), with the default survey open."""
    from tests.support.respondents import load_open_survey

    load_open_survey(app)
    return app.config["SQLALCHEMY_DATABASE_URI"]
