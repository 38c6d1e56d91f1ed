"""Requests no respondent's browser sends get a 400 and store nothing; starting is rate limited."""
from __future__ import annotations

import re

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


# --------------------------------------------------------------------------- privacy of the respondent's address

def test_nothing_derived_from_the_address_is_stored(app, small_survey, respondent):
    from survey.responses.tokens import paradata_hash

    browser = respondent(small_survey)
    browser.start()
    browser.answer({"resident": "yes"})
    with app.app_context():
        derived = {"127.0.0.1", paradata_hash("127.0.0.1")}
        for table in ("responses", "page_visits", "answers"):
            for row in db.session.execute(sa.text(f"SELECT * FROM {table}")).mappings():
                assert not derived & {str(value) for value in row.values()}, f"{table} keeps the address: {dict(row)}"
        assert "address_hash" not in {column["name"] for column in sa.inspect(db.engine).get_columns("responses")}


@pytest.mark.parametrize("language, promise", [
    ("en", "We do not store your IP address"),
    ("es", "No guardamos su dirección IP"),
])
@pytest.mark.parametrize("questionnaire", ["small_survey", "open_survey"])
def test_the_consent_page_describes_the_duplicate_signal_truthfully(
    app, request, respondent, language, promise, questionnaire
):
    slug = request.getfixturevalue(questionnaire)
    page = respondent(slug, language).open(f"/s/{slug}/consent")
    days = str(app.config["BROWSER_HASH_DAYS"])
    assert page.count(promise) == 1  # the page's own privacy note, not repeated by the questionnaire's text
    assert days in page and ("browser" in page if language == "en" else "navegador" in page)


def test_the_browser_hash_expires(app, small_survey, runner, respondent):
    from datetime import timedelta

    from survey.models import utcnow

    for _ in range(2):
        respondent(small_survey).start()
    with app.app_context():
        old, new = db.session.scalars(sa.select(Response).order_by(Response.id)).all()
        old.started_at = utcnow() - timedelta(days=app.config["BROWSER_HASH_DAYS"] + 1)
        db.session.commit()
    result = runner.invoke(args=["expire-paradata"])
    assert result.exit_code == 0 and "1 response" in result.output
    with app.app_context():
        assert [row.user_agent_hash is None for row in db.session.scalars(sa.select(Response).order_by(Response.id))] == [True, False]


def test_refusals_never_log_a_token_or_resume_link(app, small_survey, respondent, caplog):
    import logging

    from survey.responses.invitations import create_invitations
    from survey.models import Survey

    with app.app_context():
        [(_panel_id, token)] = create_invitations(db.session.scalar(sa.select(Survey)), ["panel-1"])
        db.session.commit()
    browser = respondent(small_survey)
    browser.start()
    resume = browser.resume_path()
    with caplog.at_level(logging.INFO):
        assert browser.post(f"/i/{token}", {"website": "bot"}).status_code == 400
        assert browser.client.post(f"{resume}?x=1").status_code in (400, 405)
        assert browser.post(browser.page_path, {"website": "bot"}).status_code == 400
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused POST /i/<token>" in logged
    assert token not in logged and resume.rsplit("/", 1)[1] not in logged


# --------------------------------------------------------------------------- query parameters never reach url_for

@pytest.mark.parametrize("path", ["/s/{slug}?_method=POST", "/s/{slug}/consent?_method=POST", "/?slug=x",
                                  "/?_external=1&_scheme=javascript", "/s/{slug}?_anchor=x&_external=1&_scheme=http"])
def test_reserved_query_parameters_are_ignored(client, small_survey, path):
    response = client.get(path.format(slug=small_survey))
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert response.location == f"/s/{small_survey}"


def test_language_links_carry_only_the_language(client, small_survey):
    page = client.get(f"/s/{small_survey}?lang=es&_anchor=evil&_external=1&next=https://evil.example&utm=x")
    links = re.findall(r'hreflang="\w+"|href="([^"]*)" lang=', page.get_data(as_text=True))
    hrefs = [link for link in links if link]
    assert hrefs == [f"/s/{small_survey}?lang=en", f"/s/{small_survey}?lang=es"]


def test_the_start_page_keeps_the_chosen_language_when_it_redirects(client, small_survey):
    assert client.get("/?lang=es&slug=x").location == f"/s/{small_survey}?lang=es"


# --------------------------------------------------------------------------- nothing private is cached; the consent form is not a credential

def test_private_pages_are_not_stored_by_browsers_or_proxies(app, client, small_survey, respondent, make_pollster, sign_in):
    browser = respondent(small_survey)
    browser.start()
    for path in (browser.page_path, f"/s/{small_survey}", f"/s/{small_survey}/consent"):
        assert "no-store" in browser.get(path).headers.get("Cache-Control", ""), path
    make_pollster("owner@example.org", small_survey)
    pollster = app.test_client()
    sign_in(pollster, "owner@example.org")
    for page in ("results", "fieldwork", "weighting", "downloads"):
        response = pollster.get(f"/pollster/surveys/{small_survey}/{page}")
        assert response.status_code == 200 and "no-store" in response.headers.get("Cache-Control", ""), page
    static = client.get("/static/site.css")
    static.close()
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_a_consent_form_from_another_browser_opens_nothing(app, small_survey, respondent):
    first = respondent(small_survey)
    first.open(f"/s/{small_survey}/consent")
    fields = first.form_fields()
    assert first.post(f"/s/{small_survey}/consent", fields).status_code == 302
    other = respondent(small_survey)
    other.open(f"/s/{small_survey}/consent")
    assert other.post(f"/s/{small_survey}/consent", fields).status_code == 400
    assert other.get(f"/s/{small_survey}/p/eligibility").status_code == 302  # no response of its own


def test_a_consent_form_expires(app, small_survey, respondent, monkeypatch):
    import itsdangerous.timed

    browser = respondent(small_survey)
    browser.open(f"/s/{small_survey}/consent")
    later = itsdangerous.timed.time.time() + app.config["WTF_CSRF_TIME_LIMIT"] + 60
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    assert browser.post(f"/s/{small_survey}/consent", browser.form_fields()).status_code == 400
