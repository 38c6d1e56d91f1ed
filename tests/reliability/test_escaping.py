"""Hostile text stays text: markup in answers is escaped on every page, formulas are defused in every file.

A respondent's free-text answer can reach a respondent page (Back, resume, a page shown again
with errors), a pollster page, the API and the downloads; a questionnaire author's wording
reaches the files a pollster opens in a spreadsheet. Neither may run as script or as formula.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import re

import openpyxl
import pytest
import sqlalchemy as sa
import yaml

from survey.extensions import db
from survey.models import Answer, ApiToken, Pollster, Response
from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.questionnaires.sync import load_into_database
from survey.questionnaires.validation import parse
from survey.responses.quality import ExclusionRules
from survey.weighting.reference_data import california_adult_targets
from survey.weighting.runs import create_run
from survey.weighting.settings import WeightingSettings
from tests.support.polls import seed_poll
from tests.support.respondents import Respondent, load_open_survey
from tests.survey.test_route_security import Fillers, urls

PAYLOAD = '</textarea><script>alert(1)</script>"><img src=x onerror=alert(2)>'
RAW_MARKERS = ("<script>alert(1)", "<img src=x")
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
OWNER = "owner@example.org"

TWO_PAGES = {
    "slug": "escaping-test",
    "languages": ["en", "es"],
    "title": {"en": "Escaping", "es": "Escapado"},
    "consent": {"en": "A test.", "es": "Una prueba."},
    "pages": [
        {"id": "first", "title": {"en": "First", "es": "Primera"}, "questions": [
            {"code": "remark", "type": "text", "required": False, "text": {"en": "Say anything", "es": "Diga algo"}},
            {"code": "mood", "type": "single", "text": {"en": "Mood?", "es": "¿Ánimo?"},
             "options": [{"code": "good", "label": {"en": "Good", "es": "Bien"}},
                         {"code": "bad", "label": {"en": "Bad", "es": "Mal"}}]},
        ]},
        {"id": "second", "title": {"en": "Second", "es": "Segunda"}, "questions": [
            {"code": "again", "type": "single", "text": {"en": "Again?", "es": "¿Otra vez?"},
             "options": [{"code": "yes", "label": {"en": "Yes", "es": "Sí"}},
                         {"code": "no", "label": {"en": "No", "es": "No"}}]},
        ]},
    ],
}


def _assert_escaped(html: str, where: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in html, f"{where}: {marker!r} reached the page unescaped"
    assert ESCAPED in html, f"{where}: the answer should be shown (escaped) here"


def test_markup_in_an_answer_is_escaped_on_every_respondent_page(app, client, tmp_path):
    path = tmp_path / "escaping.yaml"
    path.write_text(yaml.safe_dump(TWO_PAGES, allow_unicode=True))
    slug = load_open_survey(app, path)
    browser = Respondent(client, slug)
    browser.start()

    shown_again = browser.submit({"remark": PAYLOAD})  # "mood" missing: the page comes back with the answer in it
    assert shown_again.status_code == 200
    _assert_escaped(shown_again.get_data(as_text=True), "page shown again with errors")

    browser.answer({"remark": PAYLOAD, "mood": "good"})
    assert browser.page_id == "second"
    _assert_escaped(browser.open(f"/s/{slug}/p/first"), "Back to the first page")

    elsewhere = Respondent(app.test_client(), slug)
    elsewhere.open(browser.resume_path())
    assert elsewhere.page_id == "second"
    _assert_escaped(elsewhere.open(f"/s/{slug}/p/first"), "the first page after resuming")
    with app.app_context():
        assert db.session.scalar(sa.select(Answer.value).where(Answer.question_code == "remark")) == PAYLOAD.strip()


@pytest.fixture
def hostile_poll(app, client, default_survey, make_pollster, sign_in):
    """The default survey with a weighting run, one comment and one API token name carrying the payload."""
    owner_id = make_pollster(OWNER, default_survey)
    sign_in(client, OWNER)
    page = client.post("/pollster/tokens", data={"name": PAYLOAD}).get_data(as_text=True)
    secret = next(word for word in page.replace('"', " ").replace("<", " ").replace(">", " ").split() if word.startswith("svy_"))
    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id).order_by(ApiToken.id.desc()).limit(1))
    fillers = Fillers(app, default_survey, token_id, owner_id)
    fillers["run_id"]  # seeds the poll and weights it, so every results page has numbers to show
    with app.app_context():
        first = db.session.scalar(sa.select(Response.id).order_by(Response.id).limit(1))
        db.session.execute(sa.delete(Answer).where(Answer.response_id == first, Answer.question_code == "comment"))
        db.session.add(Answer(response_id=first, question_code="comment", value=PAYLOAD))
        db.session.commit()
    return fillers, secret


def test_markup_in_answers_and_names_is_never_live_on_pollster_pages_or_in_the_api(app, client, hostile_poll):
    fillers, secret = hostile_poll
    shown = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/pollster", "/api")) or "GET" not in rule.methods or "static" in rule.endpoint:
            continue
        headers = {"Authorization": f"Bearer {secret}"} if rule.rule.startswith("/api") else {}
        for url in urls(rule, fillers):
            response = client.get(url, headers=headers)
            assert response.status_code < 500, url
            body = response.get_data(as_text=response.mimetype in ("text/html", "application/json"))
            if response.mimetype == "text/html":
                for marker in RAW_MARKERS:
                    assert marker not in body, f"GET {url}: {marker!r} is live markup"
                shown += ESCAPED in body
            elif response.mimetype == "application/json":
                json.loads(body)  # data, not markup: the client decides how to show it
            else:
                assert "attachment" in response.headers.get("Content-Disposition", ""), f"GET {url}: {response.mimetype} inline"
    assert shown >= 1, "the token name should appear (escaped) on at least the tokens page"


FORMULAS = {
    "question": '=HYPERLINK("http://evil.example/","Click me")',
    "yes": "+SUM(1,2)",
    "no": "-2+3",
    "unsure": "@SUM(1,1)",
}
FORMULA_START = tuple("=+-@")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # a negative number is not a formula


def _hostile_questionnaire():
    """The default questionnaire with the Calexit wording and labels turned into spreadsheet formulas."""
    document = copy.deepcopy(load_file(default_questionnaire_path()).document)
    for page in document["pages"]:
        for question in page["questions"]:
            if question["code"] == "calexit":
                question["text"]["en"] = FORMULAS["question"]
                for option in question["options"]:
                    option["label"]["en"] = FORMULAS[option["code"]]
    return parse(document)


def _cells(name: str, body: bytes) -> list[object]:
    if name.endswith(".csv"):
        return [cell for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for cell in row]
    workbook = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    cells = [cell for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for cell in row]
    workbook.close()
    return cells


@pytest.mark.parametrize("name", ["toplines.csv", "toplines.xlsx", "codebook.csv", "codebook.xlsx", "crosstabs.csv", "crosstabs.xlsx",
                                  "banner.csv", "banner.xlsx"])
def test_formulas_in_wording_are_neutralized_in_downloads(app, client, make_pollster, sign_in, name):
    with app.app_context():
        survey = load_into_database(_hostile_questionnaire(), db.session)
        db.session.commit()
        seed_poll(survey, 120)
        owner_id = make_pollster(OWNER, survey.slug)
        run = create_run(survey, WeightingSettings(california_adult_targets()), ExclusionRules(), db.session.get(Pollster, owner_id))
        db.session.commit()
        slug, run_id = survey.slug, run.id
    sign_in(client, OWNER)
    path = name if name.startswith("banner") else f"files/{name}"  # a banner book is a file of the run too
    response = client.get(f"/pollster/surveys/{slug}/runs/{run_id}/{path}",
                          query_string={"rows": "calexit", "columns": "sex"} if name.startswith("banner") else {"by": "sex"})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    cells = [cell for cell in _cells(name, response.data) if isinstance(cell, str)]
    live = [cell for cell in cells if cell.startswith(FORMULA_START) and not _is_number(cell)]
    assert not live, f"{name}: cells a spreadsheet would run as formulas: {live[:5]}"
    assert any("SUM(1,2)" in cell for cell in cells), f"{name}: the hostile label should be there, defused"


def _is_number(text: str) -> bool:
    return NUMBER.fullmatch(text.strip()) is not None


def test_formulas_in_panel_ids_are_neutralized_in_the_invitation_links(app, client, make_pollster, sign_in):
    slug = load_open_survey(app)
    make_pollster(OWNER, slug)
    sign_in(client, OWNER)
    panel_ids = "panel_id\n=HYPERLINK(\"http://evil.example\")\n+SUM(1;2)\n@cmd\n-2+3\n-12\n"
    response = client.post(f"/pollster/surveys/{slug}/invitations",
                           data={"panel_ids_csv": (io.BytesIO(panel_ids.encode()), "panel.csv")})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    cells = _cells("links.csv", response.data)
    live = [cell for cell in cells if cell.startswith(FORMULA_START) and not _is_number(cell)]
    assert not live, f"cells a spreadsheet would run as formulas: {live}"
    assert "'=HYPERLINK(\"http://evil.example\")" in cells and "-12" in cells


def test_formulas_in_targets_are_neutralized_in_their_csv():
    from survey.weighting.targets import Targets

    targets = Targets(margins={"=cmd": {"+x": 0.5, "@y": 0.5}}, sources={"=cmd": "=HYPERLINK(1)"})
    cells = _cells("targets.csv", targets.to_csv().encode())
    assert not [cell for cell in cells if cell.startswith(FORMULA_START) and not _is_number(cell)]


def test_every_csv_and_spreadsheet_writer_uses_the_one_neutralizing_function():
    """A module of the site that writes CSV or XLSX takes its cells through analysis.export's
    neutralize (or neutralize_frame, csv_text, iter_csv); a new writer without it fails here."""
    import re
    from pathlib import Path

    import survey

    writers = re.compile(r"csv\.writer|csv\.DictWriter|\.to_csv\(|to_excel\(|Workbook\(|xlsxwriter")
    shared = re.compile(r"from analysis\.export import [^\n]*\b(neutralize|neutralize_frame)\b")
    unsafe = [path.relative_to(Path(survey.__file__).parent).as_posix()
              for path in Path(survey.__file__).parent.rglob("*.py")
              if writers.search(path.read_text()) and not shared.search(path.read_text())]
    assert not unsafe, f"these write CSV or XLSX without analysis.export's neutralize: {unsafe}"


def test_tokens_never_look_like_formulas(monkeypatch):
    """A token starting with - would be defused in the links file and no longer match its link."""
    import secrets

    from survey.responses.tokens import new_token

    drawn = iter(["-starts-with-a-dash", "ok-token"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _bytes: next(drawn))
    assert new_token() == "ok-token"
