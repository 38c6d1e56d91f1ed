"""Signing in and out: wrong passwords, lockouts per account and per network, safe redirects."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import LoginFailure, utcnow
from tests.support.site import app_for

EMAIL = "ana@example.org"


@pytest.fixture
def pollster(make_pollster, default_survey):
    return make_pollster(EMAIL, default_survey)


def test_sign_in_shows_the_dashboard_and_sign_out_ends_the_session(client, pollster, sign_in):
    response = sign_in(client, EMAIL)
    assert response.status_code == 302
    assert response.headers["Location"] == "/pollster/"
    dashboard = client.get("/pollster/")
    assert dashboard.status_code == 200
    assert b"california-2025" in dashboard.data

    assert client.post("/pollster/logout").headers["Location"] == "/pollster/login"
    assert client.get("/pollster/").status_code == 302


def test_email_is_matched_without_regard_to_case_or_spaces(client, pollster, sign_in):
    assert sign_in(client, "  Ana@Example.ORG ").status_code == 302


def test_pages_send_an_anonymous_visitor_to_sign_in_and_back(client, pollster, sign_in):
    response = client.get("/pollster/surveys/california-2025/fieldwork")
    assert response.status_code == 302
    assert response.headers["Location"] == "/pollster/login?next=%2Fpollster%2Fsurveys%2Fcalifornia-2025%2Ffieldwork"
    signed_in = client.post(
        response.headers["Location"], data={"email": EMAIL, "password": "a long test password"}
    )
    assert signed_in.headers["Location"] == "/pollster/surveys/california-2025/fieldwork"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)",
     "/\t/evil.example", "pollster/", "http:/evil.example"],
)
def test_next_never_leads_off_the_site(client, pollster, target):
    response = client.post(
        "/pollster/login", query_string={"next": target}, data={"email": EMAIL, "password": "a long test password"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/pollster/"


def test_wrong_password_is_refused_with_a_message(client, pollster, sign_in):
    response = sign_in(client, EMAIL, "not the password")
    assert response.status_code == 200
    assert b"do not match an account" in response.data
    assert client.get("/pollster/").status_code == 302


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, pollster, sign_in):
    unknown = sign_in(client, "nobody@example.org", "not the password")
    wrong = sign_in(client, EMAIL, "not the password")
    assert unknown.status_code == wrong.status_code == 200
    assert b"do not match an account" in unknown.data


def test_failures_from_many_addresses_lock_the_account(app, client, pollster, sign_in):
    limit = app.config["LOGIN_FAILURES_BEFORE_LOCKOUT"]
    for attempt in range(limit - 1):
        client.environ_base["REMOTE_ADDR"] = f"203.0.113.{attempt}"
        assert sign_in(client, EMAIL, f"guess {attempt}").status_code == 200
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    last_guess = sign_in(client, EMAIL, "one more guess")
    assert last_guess.status_code == 429
    assert b"This account is locked after too many failed sign-ins. Try again in 5 minutes." in last_guess.data

    # Even the right password is refused (not checked) while the lock holds.
    assert sign_in(client, EMAIL).status_code == 429
    assert client.get("/pollster/").status_code == 302


def test_the_lock_lifts_when_the_failures_age_out(app, client, pollster, sign_in):
    for attempt in range(app.config["LOGIN_FAILURES_BEFORE_LOCKOUT"]):
        sign_in(client, EMAIL, f"guess {attempt}")
    assert sign_in(client, EMAIL).status_code == 429
    with app.app_context():
        long_ago = utcnow() - timedelta(seconds=app.config["LOGIN_LOCKOUT_SECONDS"] + 1)
        db.session.execute(sa.update(LoginFailure).values(failed_at=long_ago))
        db.session.commit()
    assert sign_in(client, EMAIL).status_code == 302
    with app.app_context():  # a successful sign-in clears that account's failures
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 0


def test_one_network_is_rate_limited_with_a_clear_message(app, database_url, pollster):
    limited = app_for(
        database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", RATELIMIT_LOGIN="3 per minute"
    )
    client = limited.test_client()
    for attempt in range(3):
        assert client.post("/pollster/login", data={"email": EMAIL, "password": f"guess {attempt}"}).status_code == 200
    refused = client.post("/pollster/login", data={"email": EMAIL, "password": "a long test password"})
    assert refused.status_code == 429
    assert b"Too many sign-in attempts from your network. Wait a minute, then try again." in refused.data
    assert client.get("/pollster/login").status_code == 200  # reading the form is not limited
    with limited.app_context():
        db.engine.dispose()


def test_a_session_cookie_replayed_from_another_browser_is_dropped(client, pollster, sign_in):
    client.environ_base["HTTP_USER_AGENT"] = "Browser A"
    sign_in(client, EMAIL)
    assert client.get("/pollster/").status_code == 200
    client.environ_base["HTTP_USER_AGENT"] = "Browser B"  # same cookie, different browser: session protection "strong"
    assert client.get("/pollster/").status_code == 302


def test_failures_too_old_to_matter_are_forgotten(app, client, pollster, sign_in):
    with app.app_context():
        long_ago = utcnow() - timedelta(seconds=app.config["LOGIN_LOCKOUT_SECONDS"] + 1)
        db.session.add_all(LoginFailure(email=f"made-up-{i}@example.org", failed_at=long_ago) for i in range(20))
        db.session.commit()
    sign_in(client, "another-made-up@example.org", "guess")
    with app.app_context():
        assert db.session.scalars(sa.select(LoginFailure.email)).all() == ["another-made-up@example.org"]
