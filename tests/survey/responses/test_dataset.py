"""Complete responses become one analysis frame, with flags and reproducible exclusions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, Invitation, PageVisit, Response, Survey
from survey.questionnaires.sync import load_into_database
from survey.questionnaires.validation import parse
from survey.responses.dataset import _cell, load_responses, typed_answers
from survey.responses.quality import ExclusionRules
from tests.support.polls import load_default_survey, seed_poll

START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def _texts(word: str) -> dict[str, str]:
    return {"en": word.title(), "es": word}


def _question(code: str, type_: str, options=(), **keys) -> dict:
    if options:
        keys["options"] = [{"code": o, "label": _texts(o)} for o in options]
    return {"code": code, "type": type_, "text": _texts(code), **keys}


def _survey() -> Survey:
    trust = ["1", "2", "3"]
    document = {
        "slug": "frame-test", "languages": ["en", "es"], "title": _texts("frame test"), "consent": _texts("yes"),
        "pages": [
            {"id": "p1", "title": _texts("one"), "questions": [
                _question("sex", "single", ["female", "male"], weighting_variable="sex"),
                _question("news", "multiple", ["tv", "web", "radio"]),
                _question("age", "number", minimum=0, maximum=120),
            ]},
            {"id": "p2", "title": _texts("two"), "questions": [
                _question("trust_a", "single", trust),
                _question("trust_b", "single", trust),
                _question("trust_c", "single", trust),
                _question("check", "single", ["red", "blue"], attention_check="blue"),
            ]},
            {"id": "p3", "title": _texts("three"), "questions": [_question("comment", "text")]},
        ],
    }
    return load_into_database(parse(document), db.session)


def _respond(survey, number, answers, seconds=300.0, agent="ua", minutes=0, status="complete", invitation=None):
    response = Response(
        survey_id=survey.id, resume_token_hash=f"{number:064d}", status=status, user_agent_hash=agent,
        invitation_id=invitation,
        started_at=START + timedelta(minutes=minutes),
        completed_at=START + timedelta(minutes=minutes, seconds=seconds) if status == "complete" else None,
    )
    response.answers = [Answer(question_code=code, value=value) for code, value in answers.items()]
    response.page_visits = [
        PageVisit(page="p1", shown_at=START, submitted_at=START, seconds=seconds / 2),
        PageVisit(page="p2", shown_at=START, submitted_at=START, seconds=seconds / 2),
    ]
    db.session.add(response)
    db.session.flush()
    return response


def test_frame_has_one_row_per_complete_respondent_and_no_personal_data(app):
    with app.app_context():
        survey = _survey()
        invitation = Invitation(survey_id=survey.id, token_hash="t" * 64, panel_id="PANEL-42")
        db.session.add(invitation)
        db.session.flush()
        base = {"sex": "female", "news": ["tv", "radio"], "trust_a": "1", "trust_b": "2", "trust_c": "3",
                "check": "blue", "age": 44, "comment": "call me on 555-0100"}
        first = _respond(survey, 1, base, invitation=invitation.id)
        _respond(survey, 2, {**base, "sex": "male", "news": []}, agent="other", minutes=5)
        _respond(survey, 3, {"sex": "male"}, status="in_progress")
        db.session.commit()

        data = load_responses(survey)
        frame = data.included
        assert list(frame.index) == [first.id, first.id + 1]
        assert frame.index.name == "respondent_id"
        assert frame.loc[first.id, "sex"] == "female"
        assert frame.loc[first.id, ["news__tv", "news__web", "news__radio"]].tolist() == [1, 0, 1]
        assert frame.loc[first.id + 1, ["news__tv", "news__web", "news__radio"]].tolist() == [0, 0, 0]
        assert frame.loc[first.id, "age"] == 44.0
        assert frame.loc[first.id, "language"] == "en"
        assert "comment" not in frame.columns
        text = frame.to_csv()
        for secret in ("PANEL-42", "555-0100", "secret-address", "t" * 64, f"{1:064d}"):
            assert secret not in text


def test_flags_and_exclusions_are_reproducible(app):
    with app.app_context():
        survey = _survey()
        good = {"sex": "female", "news": ["tv"], "trust_a": "1", "trust_b": "2", "trust_c": "2", "check": "blue"}
        ids = [
            _respond(survey, 1, good, seconds=400).id,
            _respond(survey, 2, {**good, "sex": "male"}, seconds=420, agent="b").id,
            _respond(survey, 3, {**good, "check": "red"}, seconds=380, agent="c").id,  # failed attention
            _respond(survey, 4, {**good, "trust_b": "1", "trust_c": "1"}, seconds=390, agent="d").id,  # straight-liner
            _respond(survey, 5, {**good, "sex": "male"}, seconds=100, agent="e").id,  # speeder (< 0.4 * median 390)
            _respond(survey, 6, good, seconds=410, minutes=20).id,  # duplicate of 1: same agent and answers
        ]
        db.session.commit()

        data = load_responses(survey)
        flagged = {name: [i for i in ids if data.flags.loc[i, name]] for name in data.flags.columns}
        assert flagged == {
            "speeder": [ids[4]],
            "straightliner": [ids[3]],
            "attention_failed": [ids[2]],
            "duplicate": [ids[5]],
        }
        assert data.included_ids == [ids[0], ids[1], ids[3]]
        assert data.flag_counts()["excluded"] == 3

        rules = ExclusionRules(exclude=("straightliner",), speeder_share=0.2)
        again = load_responses(survey, ExclusionRules.from_dict(rules.to_dict()))
        assert again.included_ids == [i for i in ids if i != ids[3]]
        snapshot = again.snapshot
        assert load_responses(survey, rules).snapshot == snapshot

        db.session.get(Response, ids[0]).answers[0].value = "male"
        db.session.get(Response, ids[0]).updated_at = datetime(2030, 1, 1, tzinfo=timezone.utc)
        db.session.commit()
        assert load_responses(survey, rules).snapshot != snapshot


def test_no_complete_responses_gives_an_empty_frame(app):
    with app.app_context():
        survey = _survey()
        data = load_responses(survey)
        assert data.included.empty
        assert isinstance(data.included, pd.DataFrame)
        assert data.flag_counts()["complete"] == 0


def _frame_answer_by_answer(survey: Survey, questions) -> pd.DataFrame:
    """The answers frame built the plain way, one stored answer at a time (what ``load_responses`` must equal)."""
    by_code = {q.code: q for q in questions}
    ids = db.session.scalars(sa.select(Response.id).where(Response.status == "complete").order_by(Response.id)).all()
    rows: dict[int, dict] = {i: {} for i in ids}
    for response_id, code, value in db.session.execute(sa.select(Answer.response_id, Answer.question_code, Answer.value)):
        if code in by_code and response_id in rows:
            rows[response_id].update(_cell(by_code[code], value))
    columns = [column for q in questions for column in q.columns]
    frame = pd.DataFrame.from_records([rows[i] for i in ids], index=pd.Index(ids, name="respondent_id", dtype="int64"),
                                      columns=columns)
    return typed_answers(frame, questions)


def test_the_frame_is_the_one_built_answer_by_answer(app):
    """Odd stored values (a one-element list for a single choice, a number as text, JSON null, a
    lone code for a multiple choice) land in the frame exactly as the per-answer rules put them."""
    with app.app_context():
        survey = _survey()
        odd = [
            {"sex": ["male"], "news": "web", "age": "44", "trust_a": ["1", "2"], "check": "blue"},
            {"sex": "female", "news": None, "age": "not a number", "trust_b": 3},
            {"news": ["tv", "web"], "age": 30.5, "check": None},
            {},
        ]
        ids = [_respond(survey, number, answers, agent=f"agent-{number}").id for number, answers in enumerate(odd)]
        _respond(survey, 9, {"sex": "male", "age": 1}, status="in_progress")  # not in the frame
        db.session.get(Response, ids[3]).page_visits = []  # no paradata: the wall time counts
        db.session.commit()
        data = load_responses(survey)
        pd.testing.assert_frame_equal(data.answers, _frame_answer_by_answer(survey, data.questions))
        assert data.paradata.loc[ids[3], "duration_seconds"] == 300.0
        assert data.paradata.loc[ids[0], "duration_seconds"] == 300.0 and data.answers.loc[ids[0], "sex"] == "male"


def test_a_simulated_poll_reads_as_built_answer_by_answer(app):
    with app.app_context():
        survey = load_default_survey()
        seed_poll(survey, 60)
        data = load_responses(survey)
        expected = _frame_answer_by_answer(survey, data.questions)
        pd.testing.assert_frame_equal(data.answers, expected)
        assert data.answers.notna().sum().sum() > 60 * 15
