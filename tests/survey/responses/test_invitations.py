"""One-time invitation links: created by `flask invite`, used once, resumable, clear pages for the rest."""
from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Invitation, Response
from survey.responses.service import token_hash
from tests.support.respondents import Respondent, survey_status


@pytest.fixture
def links(runner, small_survey, tmp_path) -> dict[str, str]:
    """Invitations for panel members A1, B2, C3 made by the command; panel ID -> link path."""
    panel = tmp_path / "panel.csv"
    panel.write_text("panel_id,email_hash\nA1,x\nB2,y\nC3,z\n", encoding="utf-8")
    out = tmp_path / "tokens.csv"
    result = runner.invoke(args=["invite", small_survey, str(panel), "--out", str(out), "--base-url", "https://poll.example"])
    assert result.exit_code == 0, result.output
    assert "Created 3 invitations" in result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [row["panel_id"] for row in rows] == ["A1", "B2", "C3"]
    assert (out.stat().st_mode & 0o777) == 0o600
    for row in rows:
        assert row["link"] == f"https://poll.example/i/{row['token']}"
    return {row["panel_id"]: row["link"].removeprefix("https://poll.example") for row in rows}


def test_only_token_hashes_are_stored(app, links):
    with app.app_context():
        stored = {row.panel_id: row.token_hash for row in db.session.scalars(sa.select(Invitation))}
    assert sorted(stored) == ["A1", "B2", "C3"]
    for panel_id, path in links.items():
        token = path.rsplit("/", 1)[-1]
        assert stored[panel_id] == token_hash(token) and token not in stored.values()


def test_invite_refuses_mistakes_and_creates_nothing(app, runner, small_survey, links, tmp_path):
    panel = tmp_path / "again.csv"
    panel.write_text("panel_id\nC3\nD4\n", encoding="utf-8")
    result = runner.invoke(args=["invite", small_survey, str(panel), "--out", str(tmp_path / "new.csv")])
    assert result.exit_code != 0 and "C3" in result.output and "already" in result.output
    result = runner.invoke(args=["invite", "no-such-survey", str(panel), "--out", str(tmp_path / "new.csv")])
    assert result.exit_code != 0 and "no survey with slug 'no-such-survey'" in result.output
    result = runner.invoke(args=["invite", small_survey, str(panel), "--out", str(tmp_path / "tokens.csv")])
    assert result.exit_code != 0 and "already exists" in result.output
    assert not (tmp_path / "new.csv").exists()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 3


def _finish(browser: Respondent) -> str:
    browser.answer({"resident": "yes"})
    browser.answer({"calexit": "remain"})
    return browser.answer({"attention": "blue", "age": "52"})


def test_a_token_completes_once_and_then_gets_a_clear_page(app, client, links, small_survey):
    browser = Respondent(client, small_survey)
    page = browser.start(links["A1"])
    assert browser.page_id == "eligibility"
    assert links["A1"] in page  # the invitation link is the resume link
    assert "Thank you for testing." in _finish(browser)

    for again in (browser, Respondent(app.test_client(), small_survey)):
        response = again.get(links["A1"])
        assert response.status_code == 200
        assert "You have already completed this survey" in response.get_data(as_text=True)
        # Posting the consent form again starts nothing.
        assert "already completed" in again.post(links["A1"], {}).get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalars(sa.select(Response)).one()
        assert stored.status == "complete" and stored.invitation_id is not None


def test_unknown_token_gets_a_clear_page(client, links):
    for path in ("/i/not-a-real-token", links["A1"] + "x", "/r/not-a-real-token"):
        response = client.get(path)
        assert response.status_code == 404
        assert "We do not recognise this link" in response.get_data(as_text=True)


def test_invitation_link_resumes_in_another_browser(app, client, links, small_survey):
    first = Respondent(client, small_survey)
    first.start(links["B2"])
    first.answer({"resident": "yes"})
    assert first.page_id == "opinions"

    second = Respondent(app.test_client(), small_survey)
    second.open(links["B2"])
    assert second.page_id == "opinions"  # no second consent, no second response
    second.answer({"calexit": "remain"})
    assert "Thank you for testing." in second.answer({"attention": "red", "age": "33"})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_invitations_to_a_closed_survey(app, links, small_survey, client):
    survey_status(app, small_survey, "closed")
    response = client.get(links["C3"])
    assert response.status_code == 200 and "This survey is closed" in response.get_data(as_text=True)
    assert "This survey is closed" in client.post(links["C3"], data={}).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 0
