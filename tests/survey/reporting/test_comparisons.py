"""Comparisons with published polls: a figure without a primary source is context, never a test
or a headline, and every comparison says how the other poll differs from ours."""
from __future__ import annotations

import re

import sqlalchemy as sa

from survey.extensions import db
from survey.models import Survey, WeightingRun
from survey.questionnaires.sync import questionnaire_of
from survey.reporting.comparisons import comparisons_for
from survey.weighting.runs import compute
from tests.survey.reporting.test_methodology import _run, poll  # noqa: F401  (fixture)

FOURTEEN = "california_secession_14_percent"


def test_unsourced_figure_is_context_without_a_test(app, client, poll):  # noqa: F811
    run_id = _run(client, app, poll)
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == poll))
        comparisons = {c.figure.id: c for c in comparisons_for(compute(db.session.get(WeightingRun, run_id)), survey)}
    fourteen = comparisons[FOURTEEN]
    assert fourteen.context_only and fourteen.tests == [] and fourteen.goodness_of_fit is None
    kpix = comparisons["kpix_surveyusa_calexit_2016"]
    assert not kpix.context_only and {t.answer for t in kpix.tests} == {"yes", "no", "unsure"}
    ordered = list(comparisons.values())
    assert ordered.index(fourteen) > max(ordered.index(c) for c in ordered if not c.context_only)  # tested ones first

    page = client.get(f"/pollster/surveys/{poll}/results").get_data(as_text=True)
    tested_part, context_part = page.split("Context only, not tested")
    assert "unknown (figure reported without a primary source)" not in tested_part
    assert "Support secession 14%" in context_part
    assert "do not cite it as a poll result" in context_part
    assert not re.search(r"<h\d[^>]*>[^<]*14%", page)  # never a headline
    assert "<th scope=\"col\">p-value</th>" not in context_part

    token_page = client.post("/pollster/tokens", data={"name": "comparisons"}).get_data(as_text=True)
    token = re.search(r"svy_[\w-]+", token_page).group()
    headers = {"Authorization": f"Bearer {token}"}
    body = client.get(f"/api/surveys/{poll}/runs/{run_id}/results", headers=headers).json
    served = next(c for c in body["comparisons"] if c["figure"]["id"] == FOURTEEN)
    assert served["context_only"] is True and served["tests"] == [] and served["goodness_of_fit"] is None


def test_each_comparison_states_how_population_mode_dates_and_wording_differ(app, client, poll):  # noqa: F811
    run_id = _run(client, app, poll)
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == poll))
        comparisons = comparisons_for(compute(db.session.get(WeightingRun, run_id)), survey)
        wording = {q.code: q.text["en"] for q in questionnaire_of(survey).questions}
        mode = survey.mode
    assert comparisons
    for comparison in comparisons:
        by_aspect = {d.aspect: d for d in comparison.differences}
        assert list(by_aspect) == ["Population", "Mode", "Dates", "Wording"]
        assert by_aspect["Population"].theirs == comparison.figure.population
        assert by_aspect["Population"].ours.startswith("California")
        assert by_aspect["Mode"].ours == mode
        assert by_aspect["Dates"].theirs == comparison.figure.field_dates and "2025" in by_aspect["Dates"].ours
        assert by_aspect["Wording"].ours == wording[comparison.figure.question]
    rasmussen = next(c for c in comparisons if c.figure.id == "rasmussen_civil_war_2024")
    population = next(d for d in rasmussen.differences if d.aspect == "Population")
    assert population.theirs == "U.S. likely voters (national, not California)"
    assert "(exact wording not confirmed)" in next(d for d in rasmussen.differences if d.aspect == "Wording").theirs
    page = client.get(f"/pollster/surveys/{poll}/results").get_data(as_text=True)
    assert page.count("<caption>How this poll differs from ours</caption>") == len(comparisons)
