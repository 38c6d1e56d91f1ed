"""The quality-flag counts computed in SQL are those of the pandas rules on the answers frame."""
from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, PageVisit, Response, Survey
from survey.questionnaires.loading import default_questionnaire_path, read_document
from survey.questionnaires.sync import load_into_database, questionnaire_of
from survey.questionnaires.validation import parse
from survey.responses import quality_facts
from survey.responses.dataset import load_responses
from survey.responses.flag_counts import flag_counts
from survey.responses.quality import FLAGS, ExclusionRules
from survey.responses.simulate import simulate

AGREE = [{"code": code, "label": {"en": code, "es": code}} for code in ("agree", "neutral", "disagree")]
SCALE = {"low": {"en": "low", "es": "bajo"}, "high": {"en": "high", "es": "alto"}}
RULES = [
    ExclusionRules(),
    ExclusionRules(speeder_share=0.7, straightline_min_items=4, duplicate_window_minutes=0,
                   exclude=FLAGS, exclude_simulated=True, extra_excluded_ids=(3, 5, 8)),
    ExclusionRules(straightline_min_items=2, duplicate_window_minutes=90.5, exclude=("straightliner",)),
]


def _question(code: str, **fields) -> dict:
    return {"code": code, "text": {"en": code, "es": code}, **fields}


def grids_document(choice_items: int = 3) -> dict:
    """The default questionnaire with a page of two batteries (``choice_items`` choice items,
    three ratings) and a number question, so that every flag has something to find."""
    document = read_document(default_questionnaire_path().read_text(encoding="utf-8"))
    document["slug"] = "grids"
    batteries = [_question(f"g{i}", type="single", options=copy.deepcopy(AGREE)) for i in range(choice_items)]
    batteries += [_question(f"r{i}", type="rating", minimum=1, maximum=3, scale_labels=SCALE) for i in range(3)]
    batteries.append(_question("hours", type="number", minimum=0, maximum=24, required=False))
    document["pages"].insert(-1, {"id": "batteries", "title": {"en": "More", "es": "Más"}, "questions": batteries})
    return document


def poll_with_grids() -> Survey:
    """``grids_document``'s survey, open."""
    survey = load_into_database(parse(grids_document()), db.session)
    survey.status = "open"
    db.session.commit()
    return survey


def assert_same_counts(survey: Survey, rules: ExclusionRules) -> dict[str, int]:
    expected = load_responses(survey, rules).flag_counts()
    assert flag_counts(survey, rules) == expected
    return expected


def stored_facts(survey: Survey) -> dict[int, tuple]:
    columns = [getattr(Response, column) for column in quality_facts.FACT_COLUMNS]
    return {row[0]: tuple(row[1:]) for row in db.session.execute(
        sa.select(Response.id, *columns).where(Response.survey_id == survey.id, Response.status == "complete"))}


def record_again(survey: Survey, ids: list[int]) -> None:
    """Work the facts out again from what is stored now (the site never changes a completed response)."""
    quality_facts.record(db.session.connection(), survey.id, questionnaire_of(survey), survey.source_hash, ids)
    db.session.commit()


@pytest.mark.parametrize("seed, bulk", [(1, True), (2, True), (3, True), (4, False)])
def test_simulated_polls_count_the_same_flags_in_sql(app, seed, bulk):
    """The bulk path and the site's completion store the facts, as worked out again from the stored answers."""
    with app.app_context():
        survey = poll_with_grids()
        simulate(survey, 80 if bulk else 30, seed=seed, bulk=bulk)
        stored = stored_facts(survey)
        assert all(facts[-1] == survey.source_hash for facts in stored.values())
        record_again(survey, list(stored))
        assert stored_facts(survey) == stored
        counts = [assert_same_counts(survey, rules) for rules in RULES]
    assert counts[0]["complete"] == (80 if bulk else 30) and counts[0]["attention_failed"]
    assert counts[2]["straightliner"] or not bulk


def test_facts_of_another_questionnaire_version_are_worked_out_again(app):
    with app.app_context():
        survey = poll_with_grids()
        simulate(survey, 40, seed=5)
        stored = stored_facts(survey)
        db.session.execute(sa.update(Response).where(Response.survey_id == survey.id)
                           .values(quality_version="an older version", straightlined_items=None, answers_signature=None))
        db.session.commit()
        counts = [assert_same_counts(survey, rules) for rules in RULES]
        assert stored_facts(survey) == stored
    assert counts[2]["straightliner"]


def test_loading_a_new_version_works_the_facts_out_again(app, runner, tmp_path, monkeypatch):
    """``flask load-questionnaire`` redoes them, so no fieldwork page has to (30 s at 100k completes)."""
    with app.app_context():
        survey = poll_with_grids()
        simulate(survey, 40, seed=6)
    path = tmp_path / "grids.yaml"  # one more choice item in the battery: a new version
    path.write_text(json.dumps(grids_document(choice_items=4)), encoding="utf-8")  # JSON: YAML without a dump's aliases
    result = runner.invoke(args=["load-questionnaire", str(path)])
    assert result.exit_code == 0, result.output
    assert "grids: loaded" in result.output
    monkeypatch.setattr(quality_facts, "record", None)  # the page finds nothing left to redo
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == "grids"))
        assert {facts[-1] for facts in stored_facts(survey).values()} == {survey.source_hash}
        for rules in RULES:
            assert_same_counts(survey, rules)


def _copy(response: Response, *, after: timedelta, agent: str | None = None, **values) -> Response:
    """Another complete response with ``response``'s answers (some replaced by ``values``)."""
    answers = {answer.question_code: answer.value for answer in response.answers} | values
    twin = Response(survey_id=response.survey_id, resume_token_hash=f"twin{response.id}-{after}-{agent}",
                    status="complete", user_agent_hash=agent or response.user_agent_hash, simulated=response.simulated,
                    started_at=response.started_at + after, completed_at=response.completed_at + after)
    twin.answers = [Answer(question_code=code, value=value) for code, value in answers.items() if value != "drop"]
    db.session.add(twin)
    return twin


def test_odd_polls_count_the_same_flags_in_sql(app):
    with app.app_context():
        survey = poll_with_grids()
        simulate(survey, 40, seed=11)
        first, second, third, *rest = db.session.scalars(
            sa.select(Response).where(Response.survey_id == survey.id, Response.status == "complete").order_by(Response.id))
        window = timedelta(minutes=60)
        # duplicates: inside the window, exactly at its edge, just outside, at the same moment,
        # from another browser, and equal only as the frame's cells (a whole number as 2 and 2.0)
        _copy(rest[10], after=timedelta(minutes=30))
        _copy(rest[11], after=window)
        _copy(rest[12], after=window + timedelta(microseconds=1))
        _copy(rest[13], after=timedelta(0))
        _copy(rest[14], after=timedelta(minutes=5), agent="another browser")
        for answer in first.answers:
            answer.value = 2 if answer.question_code == "r0" else answer.value
        _copy(first, after=timedelta(minutes=1), r0=2.0)
        _copy(first, after=timedelta(minutes=2), r0=3)
        # answers left out: an unanswered attention check, a partial grid, a JSON null, none at all
        _copy(second, after=timedelta(days=2), attention="drop", g0="agree", g1="agree", g2="drop")
        _copy(second, after=timedelta(days=3), g0="neutral", g1="neutral", g2="neutral", r0=1, r1=1, r2=1.0, hours=None)
        for after in (timedelta(days=4), timedelta(days=4, minutes=10)):
            empty = _copy(third, after=after, agent="empty")
            empty.answers = []
        db.session.flush()
        # durations: no page visits (the wall time counts)
        for response in rest[:5]:
            db.session.execute(sa.delete(PageVisit).where(PageVisit.response_id == response.id))
        rest[6].simulated = False
        db.session.commit()
        record_again(survey, [first.id, *(response.id for response in rest[:5])])
        counts = [assert_same_counts(survey, rules) for rules in RULES]
    assert all(counts[0][flag] for flag in FLAGS)
    # inside, at the edge, the same moment, 2 as 2.0, the empty pair; a window of 0: the same
    # moment only; of 90.5 minutes: also the one just outside 60
    assert [count["duplicate"] for count in counts] == [5, 1, 6]


def test_a_poll_without_complete_responses_counts_nothing(app):
    with app.app_context():
        survey = poll_with_grids()
        assert flag_counts(survey) == load_responses(survey).flag_counts() == dict.fromkeys(
            (*FLAGS, "excluded", "complete", "included"), 0)
