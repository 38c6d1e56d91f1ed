"""Helpers and fixtures for driving the respondent site the way a browser does: ``open_survey``, ``respondent``."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import pytest
import sqlalchemy as sa
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import survey
from survey.extensions import db
from survey.models import Survey
from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.questionnaires.sync import load_into_database

RESPOND_FIXTURE = Path(__file__).with_name("respond_questionnaire.yaml")
TRANSLATIONS = Path(survey.__file__).resolve().parent / "translations"
HIDDEN_FIELD = re.compile(r'<input id="[^"]*" name="([^"]+)" type="hidden" value="([^"]*)">')
RESUME_LINK = re.compile(r'class="resume-link"><a href="https?://[^/"]+(/r/[^"]+)"')


def load_open_survey(app, path: Path = None) -> str:
    """Load a questionnaire (the shipped default unless ``path``), open it, return its slug."""
    with app.app_context():
        survey = load_into_database(load_file(path or default_questionnaire_path()), db.session)
        survey.status = "open"
        db.session.commit()
        return survey.slug


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    """Compile stale catalogues as `make translations` does, so a bare `pytest` sees the Spanish UI."""
    for po_path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file)
            with mo_path.open("wb") as mo_file:
                write_mo(mo_file, catalog)


@pytest.fixture
def open_survey(app) -> str:
    """The shipped default questionnaire, open for answers."""
    return load_open_survey(app)


@pytest.fixture
def small_survey(app) -> str:
    """The small test questionnaire (every question type, a branch that hides a page), open."""
    return load_open_survey(app, RESPOND_FIXTURE)


def survey_status(app, slug: str, status: str) -> None:
    with app.app_context():
        db.session.execute(sa.update(Survey).where(Survey.slug == slug).values(status=status))
        db.session.commit()


class Respondent:
    """One browser: a test client that starts, answers pages and follows the site's redirects."""

    def __init__(self, client, slug: str, language: Optional[str] = None):
        self.client = client
        self.slug = slug
        self.headers = {"Accept-Language": language} if language else {}
        self.page_path: Optional[str] = None
        self.html = ""

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def post(self, path: str, data: dict[str, Any], **kwargs):
        return self.client.post(path, data=data, headers=self.headers, **kwargs)

    def open(self, path: str) -> str:
        """GET a page (following redirects); remember it as the page in hand."""
        response = self.get(path, follow_redirects=True)
        assert response.status_code == 200, (path, response.status_code)
        self.page_path = response.request.path
        self.html = response.get_data(as_text=True)
        return self.html

    def start(self, consent_path: Optional[str] = None) -> str:
        """Consent and start; returns the first page's HTML."""
        consent_path = consent_path or f"/s/{self.slug}/consent"
        self.open(consent_path)
        response = self.post(consent_path, self.form_fields(), follow_redirects=False)
        assert response.status_code == 302, response.status_code
        return self.open(response.location)

    def form_fields(self) -> dict[str, str]:
        """The hidden fields of the form in hand (CSRF when enabled, the signed start or visit)."""
        return dict(HIDDEN_FIELD.findall(self.html))

    def submit(self, answers: dict[str, Any], **extra: Any):
        """POST the page in hand with ``answers`` by question code; returns the raw response."""
        data = {**self.form_fields(), **{f"q_{code}": value for code, value in answers.items()}, **extra}
        return self.post(self.page_path, data)

    def answer(self, answers: dict[str, Any]) -> str:
        """Submit the page in hand and open wherever the site sends the respondent next."""
        response = self.submit(answers)
        assert response.status_code == 302, (self.page_path, response.status_code, response.get_data(as_text=True)[:2000])
        return self.open(response.location)

    @property
    def page_id(self) -> str:
        return self.page_path.rsplit("/", 1)[-1]

    def resume_path(self) -> str:
        match = RESUME_LINK.search(self.html)
        assert match, "no resume link on the page"
        return match.group(1)


@pytest.fixture
def respondent(client):
    """``respondent(slug, language=None)``: a new browser on the site (the first one uses ``client``)."""
    app = client.application
    clients = iter([client])

    def make(slug: str, language: Optional[str] = None) -> Respondent:
        return Respondent(next(clients, None) or app.test_client(), slug, language)

    return make
