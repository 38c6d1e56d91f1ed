"""Simulated respondents: stored through the site's code, realistic, and skewed like an opt-in panel."""
from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from analysis import SurveyDesign, rake
from survey.extensions import db
from survey.models import Answer, PageVisit, Response
from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.questionnaires.sync import load_into_database, questionnaire_of
from survey.questionnaires.validation import parse
from survey.responses.simulate import (
    AGE_SHARES,
    draw_californian,
    draw_panelist,
    draw_panelist_traits,
    opinions,
    simulate,
)
from survey.weighting.reference_data import default_targets
from tests.survey.questionnaires.test_validation import minimal

LIKELY = {"very_likely", "somewhat_likely"}
SUPPORT = {"strongly_support", "somewhat_support"}


def _share(people, key, values, where=lambda person: True):
    chosen = [person for person in people if where(person)]
    return sum(person.get(key) in values for person in chosen) / len(chosen)


@pytest.fixture(scope="module")
def population():
    rng = random.Random(2025)
    people = []
    for _ in range(20000):
        traits = draw_californian(rng)
        people.append({**traits, **opinions(traits, rng)})
    return people


@pytest.fixture(scope="module")
def panel():
    rng = random.Random(7)
    people = []
    for _ in range(10000):
        traits = draw_panelist_traits(rng)
        people.append({**traits, **opinions(traits, rng)})
    return people


def test_the_population_lands_near_the_published_figures(population):
    assert 0.38 <= _share(population, "civil_war_5yr", LIKELY) <= 0.44  # Rasmussen 2024: 41%
    assert 0.14 <= _share(population, "civil_war_5yr", {"very_likely"}) <= 0.18  # 16% very likely
    assert 0.14 <= _share(population, "calexit", {"yes"}) <= 0.20  # 14-20% would leave
    assert 0.45 <= _share(population, "sue_federal", {"strongly_approve", "somewhat_approve"}) <= 0.62


def test_the_population_margins_match_the_shipped_targets(population):
    margins = default_targets().margins(include_optional=True)
    assert set(margins) == {"age_group", "sex", "race", "education", "region", "party"}
    for variable, shares in margins.items():
        for level, share in shares.items():
            assert abs(_share(population, variable, {level}) - share) < 0.02, (variable, level)
    assert AGE_SHARES == pytest.approx(margins["age_group"], abs=0.002)


def test_opinions_depend_on_demographics_as_real_ones_do(population):
    north = _share(population, "jefferson", SUPPORT, lambda p: p["region"] == "north")
    elsewhere = _share(population, "jefferson", SUPPORT, lambda p: p["region"] != "north")
    assert north > elsewhere + 0.15
    assert _share(population, "jefferson", SUPPORT, lambda p: p["party"] == "rep") > 2 * _share(
        population, "jefferson", SUPPORT, lambda p: p["party"] == "dem")
    assert _share(population, "calexit", {"yes"}, lambda p: p["age_group"] == "18-29") > 2 * _share(
        population, "calexit", {"yes"}, lambda p: p["age_group"] == "65+")
    assert _share(population, "calexit", {"yes"}, lambda p: p["party"] == "dem") > 2 * _share(
        population, "calexit", {"yes"}, lambda p: p["party"] == "rep")
    young_worry = _share(population, "civil_war_5yr", LIKELY, lambda p: p["age_group"] == "18-29")
    assert young_worry > _share(population, "civil_war_5yr", LIKELY, lambda p: p["age_group"] == "65+") + 0.15
    assert _share(population, "civil_war_5yr", LIKELY, lambda p: p["party"] in ("dem", "rep")) > _share(
        population, "civil_war_5yr", LIKELY, lambda p: p["party"] == "npp") + 0.05
    trust_rep = statistics.mean(p["trust"] for p in population if p["party"] == "rep")
    trust_dem = statistics.mean(p["trust"] for p in population if p["party"] == "dem")
    assert trust_rep > trust_dem + 2


def test_the_panel_is_older_whiter_and_more_educated(panel, population):
    assert _share(panel, "age_group", {"18-29"}) < 0.13 < 0.19 < _share(population, "age_group", {"18-29"})
    assert _share(panel, "race", {"white"}) > 0.48
    assert _share(panel, "race", {"hispanic"}) < 0.25
    assert _share(panel, "education", {"ba_plus"}) > 0.47


def test_the_skew_moves_the_unweighted_estimates(panel, population):
    """Weighting has something to correct: the raw panel misses the population figures."""
    assert _share(panel, "calexit", {"yes"}) < _share(population, "calexit", {"yes"}) - 0.015
    assert _share(panel, "civil_war_5yr", LIKELY) < _share(population, "civil_war_5yr", LIKELY) - 0.015


def test_some_panelists_are_screened_out_speed_or_break_off():
    rng = random.Random(5)
    people = [draw_panelist(rng) for _ in range(4000)]
    behaviours = Counter(person.behaviour for person in people)
    assert 0.04 < behaviours["speeder"] / len(people) < 0.08
    assert 0.02 < behaviours["inattentive"] / len(people) < 0.06
    assert 0.03 < sum(person.breaks_off for person in people) / len(people) < 0.07
    screened = sum(
        person.planned["resident"] == "no" or person.planned["adult"] == "no" or person.planned["registered"] != "yes"
        for person in people
    )
    assert 0.08 < screened / len(people) < 0.16
    spanish = [person for person in people if person.language == "es"]
    assert spanish and all(person.traits["race"] == "hispanic" for person in spanish)


def test_simulated_respondents_are_stored_through_the_site(app):
    with app.app_context():
        survey = load_into_database(load_file(default_questionnaire_path()), db.session)
        survey.status = "open"
        db.session.commit()
        report = simulate(survey, 15, seed=5)
        questionnaire = questionnaire_of(survey)

        statuses = Counter(db.session.scalars(sa.select(Response.status)))
        assert report.completed == statuses["complete"] == 15
        assert report.screened_out == statuses["screened_out"] > 0
        assert report.broke_off == statuses["in_progress"] > 0
        assert report.started == sum(statuses.values())
        assert db.session.scalar(sa.select(sa.func.count()).where(Response.simulated.is_(False))) == 0

        complete_ids = list(db.session.scalars(sa.select(Response.id).where(Response.status == "complete")))
        rows = db.session.execute(
            sa.select(Answer.response_id, Answer.question_code, Answer.value).where(Answer.response_id.in_(complete_ids))
        ).all()
        answers: dict[int, dict] = {}
        for response_id, code, value in rows:
            answers.setdefault(response_id, {})[code] = value
        for given in answers.values():
            for code, value in given.items():
                assert questionnaire.question(code).validate_answer(value) == value
            assert ("calexit_reason" in given) == (given["calexit"] == "yes")
            assert all(given[code] == "yes" for code in ("resident", "adult", "registered"))
        assert sum(given["race"] == "white" for given in answers.values()) / 15 > 0.4

        screened = db.session.scalars(sa.select(Response.screened_out_by).where(Response.status == "screened_out"))
        assert set(screened) <= {"resident", "adult", "registered"}

        seconds = dict(db.session.execute(
            sa.select(PageVisit.response_id, sa.func.sum(PageVisit.seconds))
            .where(PageVisit.response_id.in_(complete_ids)).group_by(PageVisit.response_id)
        ).all())
        median = statistics.median(seconds.values())
        assert 40 < median < 300
        fast = sum(total < 0.4 * median for total in seconds.values())
        assert fast == report.speeders > 0
        response = db.session.scalar(sa.select(Response).where(Response.status == "complete").limit(1))
        assert response.started_at < response.completed_at
        assert response.option_orders["calexit"][-1] == "unsure"


def _stored_rows() -> dict[str, list[tuple]]:
    """Every stored row of the simulated responses, by the rank of its response; the columns
    a path cannot share (ids, the random resume token, wall-clock write times) left out."""
    rank = {i: n for n, i in enumerate(db.session.scalars(sa.select(Response.id).order_by(Response.id)))}
    kept = {
        Response: [c for c in Response.__table__.c if c.name not in ("id", "resume_token_hash", "updated_at")],
        Answer: [Answer.response_id, Answer.question_code, Answer.value],
        PageVisit: [PageVisit.response_id, PageVisit.page, PageVisit.shown_at, PageVisit.submitted_at, PageVisit.seconds],
    }
    rows = {"responses": [tuple(row) for row in db.session.execute(sa.select(Response.id, *kept[Response]).order_by(Response.id))]}
    rows["responses"] = [(rank[row[0]], *row[1:]) for row in rows["responses"]]
    for model, name in ((Answer, "answers"), (PageVisit, "page_visits")):
        stored = db.session.execute(sa.select(*kept[model])).all()
        rows[name] = sorted((rank[row[0]], *map(str, row[1:])) for row in stored)
    return rows


def test_the_bulk_path_stores_what_the_site_stores(app, monkeypatch):
    """The same simulated people, stored page by page through ``save_page`` and in bulk, leave the same rows."""
    from survey.responses import simulate as simulation

    monkeypatch.setattr(simulation.BulkStore, "batch", 7)  # several batches, one partly filled
    end = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    with app.app_context():
        survey = load_into_database(load_file(default_questionnaire_path()), db.session)
        db.session.commit()
        by_service = simulate(survey, 40, seed=2, now=end, bulk=False)
        through_service = _stored_rows()
        db.session.execute(sa.delete(Response))
        db.session.commit()
        in_bulk = simulate(survey, 40, seed=2, now=end, bulk=True)
        assert in_bulk == by_service and by_service.screened_out and by_service.broke_off and by_service.speeders
        bulk_rows = _stored_rows()
    assert len(through_service["answers"]) > 40 * 15 and len(through_service["page_visits"]) > 40 * 7
    for table, rows in through_service.items():
        assert bulk_rows[table] == rows, table


def test_a_bulk_load_leaves_the_planner_statistics_up_to_date(app, monkeypatch):
    """On PostgreSQL the tables a bulk load filled are analysed, so the pages' aggregate queries
    are planned for the rows they hold (not for the near-empty tables autovacuum last saw)."""
    from survey.responses import simulate as simulation

    monkeypatch.setattr(simulation.BulkStore, "batch", 10)
    with app.app_context():
        if db.session.get_bind().dialect.name != "postgresql":
            pytest.skip("planner statistics are PostgreSQL's")
        survey = load_into_database(load_file(default_questionnaire_path()), db.session)
        db.session.commit()
        simulate(survey, 30, seed=8)
        for table in ("responses", "answers", "page_visits"):
            rows = db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
            estimated = db.session.scalar(sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table})
            assert estimated == rows > 30, table


def test_raking_the_panel_to_the_shipped_targets_recovers_the_published_figures(panel):
    """The skew is of the kind weighting corrects: raked to California adults, the panel lands near 41% and 17%."""
    frame = pd.DataFrame(panel)
    weights = rake(SurveyDesign(frame), default_targets().margins()).weights

    def weighted(column, values):
        chosen = frame[column].isin(values).to_numpy()
        return float(np.sum(weights * chosen) / np.sum(weights))

    likely_raw, calexit_raw = _share(panel, "civil_war_5yr", LIKELY), _share(panel, "calexit", {"yes"})
    assert abs(weighted("civil_war_5yr", LIKELY) - 0.41) < 0.02 < 0.41 - likely_raw
    assert abs(weighted("calexit", {"yes"}) - 0.17) < 0.015 < 0.17 - calexit_raw
    assert abs(weighted("age_group", {"18-29"}) - default_targets().margins()["age_group"]["18-29"]) < 1e-6


def test_the_simulate_command(app, runner):
    assert runner.invoke(args=["simulate", "2"]).output.endswith(
        "there is no survey with slug 'california-2025'; run `flask init-site` or load it first\n"
    )
    runner.invoke(args=["load-questionnaire", str(default_questionnaire_path())])
    result = runner.invoke(args=["simulate", "3", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("california-2025: ") and ", 3 completed (" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Response.status == "complete")) == 3
    assert runner.invoke(args=["simulate", "0"]).exit_code == 2


def test_any_questionnaire_can_be_simulated(app):
    """Questions the model does not know are answered at random within their rules."""
    with app.app_context():
        survey = load_into_database(parse(minimal()), db.session)
        db.session.commit()
        report = simulate(survey, 6, seed=4)
        assert (report.completed, report.screened_out) == (6, 0)
        questionnaire = questionnaire_of(survey)
        rows = db.session.execute(
            sa.select(Answer.question_code, Answer.value).join(Response).where(Response.status == "complete")
        ).all()
        assert {code for code, _value in rows} >= {"party", "age", "trust", "issues"}
        for code, value in rows:
            assert questionnaire.question(code).validate_answer(value) == value
