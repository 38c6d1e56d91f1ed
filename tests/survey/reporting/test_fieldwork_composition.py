"""The fieldwork page before any weighting: sample composition against the targets, unweighted
frequencies and the raw-data file, all clearly unweighted."""
from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, Response, Survey, WeightingRun
from survey.reporting.charts import completions_chart
from survey.reporting.fieldwork import frequencies
from survey.weighting.target_sets import default_target_set, target_sets
from tests.survey.reporting.test_methodology import poll  # noqa: F401  (fixture)


def _survey(slug: str) -> Survey:
    return db.session.scalar(sa.select(Survey).where(Survey.slug == slug))


def current_targets(survey: Survey):
    """The targets the weighting page starts from, which the fieldwork page compares with."""
    sets = target_sets(survey)
    return sets[default_target_set(survey, sets)]


def _answers(survey: Survey, code: str) -> Counter:
    """The same counts the long way: every complete response's answer, read one by one."""
    values = db.session.scalars(
        sa.select(Answer.value).join(Response).where(Response.survey_id == survey.id, Response.status == "complete",
                                                     Answer.question_code == code)
    ).all()
    return Counter(str(v) for value in values for v in (value if isinstance(value, list) else [value]))


def test_composition_sets_each_weighting_variable_beside_its_targets(app, client, poll):  # noqa: F811
    with app.app_context():
        survey = _survey(poll)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WeightingRun)) == 0
        targets = current_targets(survey)
        composition = frequencies(survey, targets)
        assert {f.variable for f in composition} == set(targets.margins)
        for table in composition:
            expected = _answers(survey, table.code)
            assert table.answered == sum(expected.values()) == 160
            for row in table.shares:
                assert row.count == expected[row.code]
                assert row.share == pytest.approx(expected[row.code] / 160)
                assert row.target == targets.margins[table.variable].get(row.code)
                if row.target is not None:
                    assert row.gap == pytest.approx(row.share - row.target)
    page = client.get(f"/pollster/surveys/{poll}/fieldwork").get_data(as_text=True)
    assert "Sample composition against the targets" in page
    for variable in targets.margins:
        assert f"<code>{variable}</code>" in page
    assert targets.universe == "California registered voters" and "education" in targets.optional
    assert "Target source (assumption):" in page and "Optional target: not weighted by default." in page


def test_a_target_level_nobody_gave_yet_is_pointed_out(app, client, poll):  # noqa: F811
    with app.app_context():
        survey = _survey(poll)
        for answer in db.session.scalars(sa.select(Answer).where(Answer.question_code == "race")):
            if answer.value == "other":
                answer.value = "white"
        db.session.commit()
        row = next(r for f in frequencies(survey, current_targets(survey)) if f.code == "race" for r in f.shares
                   if r.code == "other")
    assert (row.count, row.share) == (0, 0) and row.gap == pytest.approx(-row.target)
    page = client.get(f"/pollster/surveys/{poll}/fieldwork").get_data(as_text=True)
    assert "(no respondents yet)" in page
    assert "<code>race</code>" in page


def test_unweighted_frequencies_count_each_choice_of_a_multiple_choice_question(app, client, poll):  # noqa: F811
    with app.app_context():
        survey = _survey(poll)
        table = {f.code: f for f in frequencies(survey)}
        reasons = table["calexit_reason"]
        expected = _answers(survey, "calexit_reason")
        assert {row.code: row.count for row in reasons.shares} == {row.code: expected[row.code] for row in reasons.shares}
        answered = db.session.scalar(sa.select(sa.func.count()).select_from(Answer).join(Response).where(
            Response.survey_id == survey.id, Response.status == "complete", Answer.question_code == "calexit_reason"))
        assert reasons.answered == answered
        assert "comment" not in table  # free text has no frequencies
    page = client.get(f"/pollster/surveys/{poll}/fieldwork").get_data(as_text=True)
    assert "<strong>Unweighted:</strong>" in page and "Raw data, unweighted (CSV)" in page


def test_raw_data_has_every_response_with_paradata_and_nothing_identifying(app, client, poll):  # noqa: F811
    with app.app_context():
        survey = _survey(poll)
        complete = db.session.scalar(sa.select(Response.id).where(Response.survey_id == survey.id, Response.status == "complete").limit(1))
        db.session.execute(sa.delete(Answer).where(Answer.response_id == complete, Answer.question_code == "comment"))
        db.session.add(Answer(response_id=complete, question_code="comment", value="call me at 555-0199"))
        db.session.execute(sa.update(Answer).where(Answer.response_id == complete, Answer.question_code == "party")
                           .values(value="=HYPERLINK(\"http://evil.example\")"))
        db.session.commit()
        hashes = set(db.session.scalars(sa.select(Response.resume_token_hash)).all()) | set(
            db.session.scalars(sa.select(Response.user_agent_hash).where(Response.user_agent_hash.is_not(None))).all())
    response = client.get(f"/pollster/surveys/{poll}/fieldwork/raw-data.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "unweighted" in response.headers["Content-Disposition"]
    # The view's own caching rule stands, once; the site's defaults add what it did not set.
    assert response.headers.getlist("Cache-Control") == ["private, no-store"]
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    text = response.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert Counter(row["disposition"] for row in rows) == {"complete": 160, "screened_out": 3, "broken_off": 2}
    header = list(rows[0])
    for column in ("respondent_id", "started_at", "ended_at", "duration_seconds", "speeder", "attention_failed",
                   "excluded_by_default_rules", "calexit", "party"):
        assert column in header, column
    assert "comment" not in header and "555-0199" not in text
    assert not any(secret in text for secret in hashes)
    assert not any(name in column for column in header for name in ("ip", "address", "agent", "token", "panel"))
    evil = next(row for row in rows if row["respondent_id"] == str(complete))
    assert evil["party"].startswith("'=")  # neutralised: a spreadsheet shows it as text
    screened = next(row for row in rows if row["disposition"] == "screened_out")
    assert screened["screened_out_by"] == "registered" and screened["speeder"] == ""
    assert all(float(row["duration_seconds"]) > 0 for row in rows if row["disposition"] == "complete")


def test_completions_chart_has_a_labelled_count_scale_and_dated_ticks():
    days = [(date(2025, 6, d), n) for d, n in zip(range(2, 14), [3, 17, 0, 22, 9, 4, 0, 0, 12, 5, 8, 1])]
    svg = completions_chart(days)
    assert "Completed per day" in svg
    for tick in ("0", "5", "10", "15", "20", "25"):
        assert f'text-anchor="end">{tick}</text>' in svg
    assert "Jun 2</text>" in svg and "Jun 5</text>" in svg
    assert svg.count('text-anchor="middle"') <= 5  # a few dates, not one per day crammed together
