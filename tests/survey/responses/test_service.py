"""survey.responses.service: the one code path that stores answers (the site and `simulate` use it)."""
from __future__ import annotations

import hashlib
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, Invitation, PageVisit, Response, utcnow
from survey.questionnaires.loading import load_file
from survey.questionnaires.sync import load_into_database
from survey.responses import service, tokens
from tests.support.respondents import RESPOND_FIXTURE


@pytest.fixture
def survey(app):
    with app.app_context():
        row = load_into_database(load_file(RESPOND_FIXTURE), db.session)
        row.status = "open"
        db.session.commit()
        yield row


def _save(response, page, answers, seconds=5.0):
    now = utcnow()
    return service.save_page(response, page, answers, shown_at=now - timedelta(seconds=seconds), submitted_at=now)


def test_start_stores_only_hashes_and_draws_option_orders(survey):
    response, token = service.start_response(
        survey, language="es", user_agent="Mozilla/5.0 test", rng=random.Random(3)
    )
    assert len(token) >= 40
    assert response.resume_token_hash == tokens.token_hash(token) != token
    assert response.user_agent_hash and "Mozilla" not in response.user_agent_hash
    assert response.language == "es"
    order = response.option_orders["calexit"]
    assert sorted(order) == ["leave", "not_sure", "remain"] and order[-1] == "not_sure"  # anchored stays last
    assert "issues" not in response.option_orders  # not randomized
    assert service.find_response(token).id == response.id
    assert service.find_response("not-a-token") is None


def test_user_agent_hash_is_salted_and_stable(app, survey):
    first, _ = service.start_response(survey, language="en", user_agent="UA")
    second, _ = service.start_response(survey, language="en", user_agent="UA")
    assert first.user_agent_hash == second.user_agent_hash
    assert first.user_agent_hash != hashlib.sha256(b"UA").hexdigest()  # unsalted hash would be guessable


def test_walk_branching_and_completion(survey):
    response, _ = service.start_response(survey, language="en")
    assert _save(response, "eligibility", {"resident": "yes"}) == "opinions"
    assert _save(response, "opinions", {"calexit": "leave", "issues": ["water", "economy"]}) == "leavers"
    assert _save(response, "leavers", {"leave_strength": "4"}) == "closing"
    assert service.resume_page(response).id == "closing"
    assert _save(response, "closing", {"attention": "blue", "age": "44", "comment": " fine "}) is None
    answers = service.progress(response).answers
    assert answers == {
        "resident": "yes",
        "calexit": "leave",
        "issues": ["economy", "water"],  # stored in questionnaire order
        "leave_strength": 4,
        "attention": "blue",
        "age": 44,
        "comment": "fine",
    }
    assert service.complete(response) is True
    assert service.complete(response) is False  # exactly once
    db.session.refresh(response)
    assert response.status == "complete" and response.completed_at is not None
    visits = db.session.scalars(sa.select(PageVisit).where(PageVisit.response_id == response.id)).all()
    assert [visit.page for visit in visits] == ["eligibility", "opinions", "leavers", "closing"]
    assert all(visit.seconds == pytest.approx(5.0) for visit in visits)
    with pytest.raises(service.ResponseClosed):
        _save(response, "closing", {"attention": "blue", "age": "44"})


def test_changed_earlier_answer_removes_hidden_answers_and_skips_page(survey):
    response, _ = service.start_response(survey, language="en")
    _save(response, "eligibility", {"resident": "yes"})
    _save(response, "opinions", {"calexit": "leave"})
    _save(response, "leavers", {"leave_strength": 5})
    assert service.progress(response).answers["leave_strength"] == 5
    assert service.previous_page(response, "leavers").id == "opinions"
    # Back to opinions, change the answer: the leavers page and its answer disappear.
    assert _save(response, "opinions", {"calexit": "remain"}) == "closing"
    assert "leave_strength" not in service.progress(response).answers
    assert service.previous_page(response, "closing").id == "opinions"
    assert not service.may_open_page(response, "leavers")
    _save(response, "closing", {"attention": "red", "age": 30})
    assert service.complete(response) is True


def test_screener_ends_the_response(survey):
    response, _ = service.start_response(survey, language="en")
    assert _save(response, "eligibility", {"resident": "no"}) is None
    db.session.refresh(response)
    assert response.status == "screened_out" and response.screened_out_by == "resident"
    assert response.completed_at is None
    with pytest.raises(service.ResponseClosed):
        _save(response, "eligibility", {"resident": "yes"})
    assert service.complete(response) is False


@pytest.mark.parametrize(
    ("page", "answers"),
    [
        ("eligibility", {"resident": "maybe"}),  # not an option
        ("eligibility", {}),  # required
        ("eligibility", {"resident": "yes", "calexit": "leave"}),  # question of another page
        ("opinions", {"calexit": "leave"}),  # a page not reached yet
        ("no_such_page", {"resident": "yes"}),
    ],
)
def test_invalid_answers_store_nothing(survey, page, answers):
    response, _ = service.start_response(survey, language="en")
    with pytest.raises(service.InvalidAnswer):
        _save(response, page, answers)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Answer)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PageVisit)) == 0


def test_out_of_range_and_bad_values_are_refused(survey):
    response, _ = service.start_response(survey, language="en")
    _save(response, "eligibility", {"resident": "yes"})
    _save(response, "opinions", {"calexit": "leave"})
    for bad in ("9", "0", "three", 2.5):
        with pytest.raises(service.InvalidAnswer):
            _save(response, "leavers", {"leave_strength": bad})
    with pytest.raises(service.InvalidAnswer):
        _save(response, "opinions", {"calexit": "leave", "issues": ["water", "gold"]})
    assert "leave_strength" not in service.progress(response).answers


def test_double_submission_counts_one_visit(survey):
    response, _ = service.start_response(survey, language="en")
    shown = utcnow() - timedelta(seconds=7)
    for _ in range(2):
        assert service.save_page(response, "eligibility", {"resident": "yes"}, shown_at=shown) == "opinions"
    visits = db.session.scalars(sa.select(PageVisit).where(PageVisit.response_id == response.id)).all()
    assert len(visits) == 1 and visits[0].seconds >= 7


def test_complete_refuses_unfinished_response(survey):
    response, _ = service.start_response(survey, language="en")
    _save(response, "eligibility", {"resident": "yes"})
    with pytest.raises(service.ResponseIncomplete):
        service.complete(response)
    db.session.refresh(response)
    assert response.status == "in_progress"


def test_completion_is_guarded_by_the_database(survey):
    """Even code that skips ``complete`` cannot mark a response complete without a time."""
    response, _ = service.start_response(survey, language="en")
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(Response).where(Response.id == response.id).values(status="complete"))
        db.session.commit()
    db.session.rollback()


def test_invitation_has_one_response(survey):
    token = tokens.new_token()
    invitation = Invitation(survey_id=survey.id, panel_id="p1", token_hash=tokens.token_hash(token))
    db.session.add(invitation)
    db.session.commit()
    assert service.find_invitation(token).id == invitation.id
    assert service.find_invitation(token + "x") is None
    response, _ = service.start_response(survey, language="en", invitation=invitation)
    with pytest.raises(service.AlreadyStarted):
        service.start_response(survey, language="en", invitation=invitation)
    assert service.response_for_invitation(invitation).id == response.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


def test_start_with_the_same_consent_token_is_idempotent(survey):
    token = tokens.new_token()
    response, returned = service.start_response(survey, language="en", resume_token=token)
    assert returned == token
    with pytest.raises(service.AlreadyStarted):
        service.start_response(survey, language="en", resume_token=token)
    assert service.find_response(token).id == response.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Response)) == 1


@pytest.mark.parametrize("kind", ["r", "i"])
def test_a_page_view_reads_the_same_progress_with_the_response(survey, kind):
    """``survey_response_and_progress`` (one query on PostgreSQL) gives what ``progress`` reads."""
    token = tokens.new_token()
    invitation = None
    if kind == "i":
        invitation = Invitation(survey_id=survey.id, panel_id="p1", token_hash=tokens.token_hash(token))
        db.session.add(invitation)
        db.session.commit()
    response, resume_token = service.start_response(survey, language="en", invitation=invitation)
    link = (kind, token if kind == "i" else resume_token)
    assert service.survey_response_and_progress(survey.slug, link)[2] == service.Progress({}, {})
    shown = utcnow() - timedelta(seconds=3)
    service.save_page(response, "eligibility", {"resident": "yes"}, shown_at=shown)
    service.save_page(response, "opinions", {"calexit": "leave", "issues": ["water", "economy"]}, shown_at=shown)
    service.save_page(response, "eligibility", {"resident": "yes"}, shown_at=shown + timedelta(seconds=1))

    found_survey, found, saved = service.survey_response_and_progress(survey.slug, link)
    assert (found_survey.id, found.id) == (survey.id, response.id)
    assert saved == service.progress(response)
    assert set(saved.answers["issues"]) == {"water", "economy"} and len(saved.visits["eligibility"]) == 2
    assert saved.shown_before("eligibility", shown)
    assert (found.status, found.survey.source_hash) == ("in_progress", survey.source_hash)
    locked = service.survey_response_and_progress(survey.slug, link, lock=True)  # a submit's read, in a transaction
    assert (locked[1], locked[2]) == (found, saved)
    db.session.rollback()
    assert service.survey_response_and_progress(survey.slug, ("r", "not-a-token"))[1:] == (None, None)
    assert service.survey_response_and_progress("no-such-survey", link) == (None, None, None)
