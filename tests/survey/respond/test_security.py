"""Requests no respondent's browser sends get a 400 and store nothing; starting is rate limited."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from survey import create_app
from survey.extensions import db
from survey.models import Answer, PageVisit, Response
from tests.support.respondents import Respondent


@pytest.fixture
def guarded_app(app, small_survey):
    """The site as deployed: CSRF checked and starts rate limited (3 a minute), on the test database."""
    guarded = create_app(
        {
            **app.config,
            "WTF_CSRF_ENABLED": True,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_START": "3 per minute",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    yield guarded
    with guarded.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def browser(guarded_app, small_survey):
    """A respondent on the guarded site, on the first page with nothing answered."""
    respondent = Respondent(guarded_app.test_client(), small_survey)
    respondent.start()
    assert respondent.page_id == "eligibility"
    return respondent


def _counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(
            db.session.scalar(sa.select(sa.func.count()).select_from(model)) for model in (Response, Answer, PageVisit)
        )


def test_the_honest_path_works_with_csrf(guarded_app, browser):
    browser.answer({"resident": "yes"})
    assert browser.page_id == "opinions"
    assert _counts(guarded_app) == (1, 1, 1)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"q_resident": "maybe"}, id="code-not-an-option"),
        pytest.param({"q_resident": ["yes", "no"]}, id="two-codes-for-single-choice"),
        pytest.param({"visit": "forged"}, id="visit-not-signed"),
        pytest.param({"visit": None}, id="visit-missing"),
        pytest.param({"csrf_token": None}, id="csrf-missing"),
        pytest.param({"csrf_token": "x" * 40}, id="csrf-wrong"),
        pytest.param({"website": "http://spam.example"}, id="honeypot-filled"),
    ],
)
def test_tampered_page_is_refused_and_nothing_stored(guarded_app, browser, tamper):
    data = {**browser.form_fields(), "q_resident": "yes"}
    data.update(tamper)
    data = {key: value for key, value in data.items() if value is not None}
    response = browser.post(browser.page_path, data)
    assert response.status_code == 400
    assert "<h1>Bad Request</h1>" in response.get_data(as_text=True)
    assert _counts(guarded_app) == (1, 0, 0)


def test_visit_of_another_page_or_a_page_not_reached_is_refused(guarded_app, browser, small_survey):
    eligibility_fields = browser.form_fields()
    browser.answer({"resident": "yes"})
    assert _counts(guarded_app) == (1, 1, 1)
    # The signed visit of the first page, posted as the second page.
    response = browser.post(browser.page_path, {**eligibility_fields, "q_calexit": "remain"})
    assert response.status_code == 400
    # A page further on than the respondent has reached.
    response = browser.post(
        f"/s/{small_survey}/p/closing", {**browser.form_fields(), "q_attention": "blue", "q_age": "30"}
    )
    assert response.status_code == 400
    # A page that does not exist.
    response = browser.post(f"/s/{small_survey}/p/nowhere", {**browser.form_fields(), "q_resident": "yes"})
    assert response.status_code == 400
    # A rating point off the scale, on a page that shows the scale.
    browser.answer({"calexit": "leave"})
    assert browser.page_id == "leavers"
    assert browser.submit({"leave_strength": "6"}).status_code == 400
    assert _counts(guarded_app) == (1, 2, 2)


def test_consent_without_csrf_or_with_honeypot_starts_nothing(guarded_app, small_survey):
    respondent = Respondent(guarded_app.test_client(), small_survey)
    respondent.open(f"/s/{small_survey}/consent")
    assert respondent.post(f"/s/{small_survey}/consent", {}).status_code == 400
    filled = {**respondent.form_fields(), "website": "bot"}
    assert respondent.post(f"/s/{small_survey}/consent", filled).status_code == 400
    assert _counts(guarded_app) == (0, 0, 0)


def test_double_clicked_consent_starts_one_response(guarded_app, small_survey):
    respondent = Respondent(guarded_app.test_client(), small_survey)
    respondent.open(f"/s/{small_survey}/consent")
    fields = respondent.form_fields()
    first = respondent.post(f"/s/{small_survey}/consent", fields)
    other_tab = Respondent(guarded_app.test_client(), small_survey)  # the same form, sent without the new cookie
    other_tab.client.set_cookie("session", respondent.client.get_cookie("session").value)
    second = other_tab.post(f"/s/{small_survey}/consent", fields)
    assert first.status_code == second.status_code == 302 and first.location == second.location
    assert _counts(guarded_app)[0] == 1
    stranger = Respondent(guarded_app.test_client(), small_survey)
    stranger.open(f"/s/{small_survey}/consent")
    forged = {**stranger.form_fields(), "start": fields["start"][:-2] + "xx"}
    assert stranger.post(f"/s/{small_survey}/consent", forged).status_code == 400
    assert _counts(guarded_app)[0] == 1


def test_starting_new_responses_is_rate_limited(guarded_app, small_survey):
    started = []
    for _ in range(4):
        respondent = Respondent(guarded_app.test_client(), small_survey)
        respondent.open(f"/s/{small_survey}/consent")
        started.append(respondent.post(f"/s/{small_survey}/consent", respondent.form_fields()).status_code)
    assert started == [302, 302, 302, 429]
    refused = respondent.post(f"/s/{small_survey}/consent", respondent.form_fields())
    assert "Please wait a minute and try again." in refused.get_data(as_text=True)
    assert _counts(guarded_app)[0] == 3
    # Answering pages is not limited: a started respondent carries on.
    respondent = Respondent(guarded_app.test_client(), small_survey)
    assert respondent.get(f"/s/{small_survey}").status_code == 200
