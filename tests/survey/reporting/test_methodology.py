"""The methodology statement: AAPOR disclosure items stored per survey and kept with each run,
missing items shown as missing, no margin of sampling error for an opt-in sample."""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from scipy import stats

from survey.extensions import db
from survey.models import Response, Survey, WeightingRun
from survey.questionnaires.model import QuestionnaireError
from survey.questionnaires.sync import load_into_database, questionnaire_of
from survey.questionnaires.validation import parse
from survey.reporting.methodology import table_cell
from tests.support.polls import load_default_survey, seed_poll
from tests.survey.weighting.test_population import form_defaults

OWNER = "methodology@example.org"


@pytest.fixture
def poll(app, client, make_pollster, sign_in):
    """The default poll with 160 completes, 3 screen-outs and 2 eligible break-offs, signed in."""
    with app.app_context():
        survey = load_default_survey()
        seed_poll(survey, 160)
        long_ago = datetime.now(timezone.utc) - timedelta(hours=5)
        db.session.add_all(Response(survey_id=survey.id, resume_token_hash=f"out{i}", status="screened_out",
                                    screened_out_by="registered") for i in range(3))
        db.session.add_all(Response(survey_id=survey.id, resume_token_hash=f"off{i}", current_page=2,
                                    started_at=long_ago, updated_at=long_ago) for i in range(2))
        db.session.commit()
        slug = survey.slug
    make_pollster(OWNER, slug)
    sign_in(client, OWNER)
    return slug


def _run(client, app, slug: str, query: str = "", **changes) -> int:
    """Submit the weighting form with its defaults (as the page fills it in), changed by ``changes``."""
    action = f"/pollster/surveys/{slug}/weighting/run"
    form = form_defaults(client.get(f"/pollster/surveys/{slug}/weighting{query}").get_data(as_text=True), action)
    response = client.post(action, data={**form, **changes})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.max(WeightingRun.id)))


def _statement(client, slug: str, run_id: int) -> str:
    response = client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/methodology.md")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def _save(client, slug: str, **items) -> None:
    """Post the form as a browser does: every field, the ones not given empty."""
    fields = ("sample_type", "sponsor", "conducted_by", "sample_source", "mode", "interview_languages",
              "fieldwork_start", "fieldwork_end")
    response = client.post(f"/pollster/surveys/{slug}/methodology", data={name: items.get(name, "") for name in fields})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def test_default_poll_statement_is_opt_in_with_dispositions_and_no_placeholder(app, client, poll):
    run_id = _run(client, app, poll)
    text = _statement(client, poll, run_id)
    assert "**Sample type:** Opt-in sample" in text
    assert "**Population (universe):** California registered voters" in text
    assert "which describe: California registered voters." in text and "another population" not in text
    for disposition in ("**Started the questionnaire:** 165", "**Screened out (not eligible):** 3 — by `registered` 3",
                        "**Completes:** 160", "**Partials and break-offs (eligible, stopped before the end):** 2",
                        "**Break-off rate:** 1.2% of the 162 eligible starts", "**Quality exclusions"):
        assert disposition in text, disposition
    # items the pollster has not given are missing, never filled in
    assert "**Sponsor:** *not stated*" in text and "**Conducted by:** *not stated*" in text
    assert not re.search(r"fill in|placeholder|Not stated —|TBD", text, re.IGNORECASE)
    # an opt-in sample has no margin of sampling error, and says what its intervals cover
    assert "±" not in text and "Margin of sampling error" not in text
    assert "no margin of sampling error is given" in text and "They do not cover" in text
    with app.app_context():
        run = db.session.get(WeightingRun, run_id)
        questions = questionnaire_of(db.session.scalar(sa.select(Survey).where(Survey.slug == poll))).questions
        assert f"effective sample size: {run.diagnostics['effective_n']:.0f}" in text
        assert f"Design effect of weighting (Kish, 1 + CV² of the weights): {run.diagnostics['design_effect']:.2f}" in text
        for question in questions:  # full wording of every question, in each language
            assert question.text["en"] in text and question.text["es"] in text
        targets = run.settings["targets"]
        assert set(targets["margins"]) == {"region", "party", "vote_2024", "sex", "race", "age_group"}
        for variable in targets["margins"]:  # each weighting variable with its source and flag
            assert f"| `{variable}` |" in text
            assert f"**{targets['flags'][variable]}**: {table_cell(targets['sources'][variable])}" in text
        assert "| `education` |" not in text


def test_targets_of_another_population_are_said_plainly(app, client, poll):
    run_id = _run(client, app, poll, "?targets=adults", confirm_universe="y")
    text = _statement(client, poll, run_id)
    assert ("**The targets describe another population than the survey samples** (California adults, "
            "not California registered voters)") in text


def test_a_probability_sample_gives_its_margin_of_sampling_error(app, client, poll):
    _save(client, poll, sample_type="probability", sponsor="Golden State Institute")
    run_id = _run(client, app, poll)
    text = _statement(client, poll, run_id)
    with app.app_context():
        diagnostics = db.session.get(WeightingRun, run_id).diagnostics
    assert "**Sponsor:** Golden State Institute" in text
    moe = re.search(r"\*\*Margin of sampling error:\*\* ±([\d.]+) percentage points", text)
    assert moe is not None
    # t on the run's degrees of freedom (160 respondents, no strata: 159) times the SE of a 50% share with deff
    expected = stats.t.ppf(0.975, diagnostics["n"] - 1) * math.sqrt(diagnostics["design_effect"] * 0.25 / diagnostics["n"])
    assert float(moe.group(1)) == pytest.approx(100 * expected, abs=0.05)
    assert "no margin of sampling error" not in text


def test_each_run_keeps_the_items_it_was_made_with(app, client, poll):
    _save(client, poll, sample_type="opt_in_panel", sponsor="First Sponsor", fieldwork_start="2025-06-02",
          fieldwork_end="2025-06-08")
    first = _run(client, app, poll)
    _save(client, poll, sample_type="opt_in_panel", sponsor="Second Sponsor")
    second = _run(client, app, poll)
    first_text, second_text = _statement(client, poll, first), _statement(client, poll, second)
    assert "**Sponsor:** First Sponsor" in first_text
    assert "**Fieldwork dates:** June 2, 2025 to June 8, 2025" in first_text
    assert "**Sponsor:** Second Sponsor" in second_text
    # a field emptied on the form is published as not stated
    assert "**Fieldwork dates:** *not stated*; the interviews used were completed from June 2, 2025" in second_text
    assert "Opt-in sample from an online panel" in second_text


def test_methodology_form_refuses_a_fieldwork_that_ends_before_it_starts(client, poll):
    response = client.post(f"/pollster/surveys/{poll}/methodology",
                           data={"fieldwork_start": "2025-06-08", "fieldwork_end": "2025-06-02"})
    assert response.status_code == 400
    assert "The fieldwork cannot end before it starts." in response.get_data(as_text=True)
    page = client.get(f"/pollster/surveys/{poll}/methodology").get_data(as_text=True)
    assert "Not stated yet: Sponsor, Conducted by, Sample source, Fieldwork start, Fieldwork end." in page


def test_print_ready_page_is_the_statement_with_its_text_escaped(app, client, poll):
    _save(client, poll, sample_type="river", sponsor="<script>alert(1)</script> & Co")
    run_id = _run(client, app, poll)
    page = client.get(f"/pollster/surveys/{poll}/runs/{run_id}/methodology")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "methodology.css" in html and '<article class="panel statement">' in html
    assert "<h2>Dispositions" in html and "<table>" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert client.get(f"/pollster/surveys/{poll}/runs/{run_id + 1}/methodology").status_code == 404


def test_questionnaire_file_proposes_the_items_and_keeps_the_pollsters_edits(app, poll, client):
    _save(client, poll, sample_type="opt_in_panel", mode="Online panel survey",
          interview_languages="English and Spanish, at the respondent's choice")
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == poll))
        document = dict(survey.definition, title={"en": "Renamed", "es": "Renombrada"})
        load_into_database(parse(document), db.session)
        assert (survey.sample_type, survey.mode) == ("opt_in_panel", "Online panel survey")
        assert survey.interview_languages == "English and Spanish, at the respondent's choice"


@pytest.mark.parametrize("methodology, problem", [
    ({"sample_type": "snowball"}, "methodology.sample_type: must be one of probability, opt_in_panel, river"),
    ({"sponsor": ""}, "methodology.sponsor: must be text of 1 to 300 characters"),
    ({"sponsr": "x"}, 'methodology: unknown key "sponsr"'),
])
def test_questionnaire_methodology_items_are_checked(app, poll, methodology, problem):
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == poll))
        with pytest.raises(QuestionnaireError) as caught:
            parse(dict(survey.definition, methodology=methodology))
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
