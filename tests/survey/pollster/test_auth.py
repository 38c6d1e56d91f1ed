"""Signing in and out: wrong passwords, lockouts per account and per network, safe redirects."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import LoginFailure, utcnow
from tests.support.site import TEST_PASSWORD, app_for

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


def _from(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_guesses_from_one_address_back_off_without_locking_out_the_owner(app, client, pollster, sign_in):
    """An attacker failing on the owner's email slows only their own (email, address) pair."""
    attacker = _from(client, "203.0.113.5")
    for attempt in range(app.config["LOGIN_FREE_FAILURES"]):
        assert sign_in(attacker, EMAIL, f"guess {attempt}").status_code == 200
    slowed = sign_in(attacker, EMAIL, "one more guess")
    assert slowed.status_code == 429
    assert b"Too many failed sign-ins from your network for this account. Try again in 1 minute" in slowed.data
    assert sign_in(attacker, EMAIL).status_code == 429  # not even checked while the back-off holds

    owner = _from(app.test_client(), "198.51.100.7")
    assert sign_in(owner, EMAIL).status_code == 302
    assert owner.get("/pollster/").status_code == 200


def test_each_failure_past_the_free_ones_doubles_the_wait(app):
    from survey.accounts.sign_in import backoff_seconds

    with app.app_context():
        free, base = app.config["LOGIN_FREE_FAILURES"], app.config["LOGIN_BACKOFF_SECONDS"]
        assert [backoff_seconds(failures) for failures in range(free + 1)] == [0] * (free + 1)
        assert [backoff_seconds(free + 1 + extra) for extra in range(4)] == [base, 2 * base, 4 * base, 8 * base]
        assert backoff_seconds(free + 60) == app.config["LOGIN_BACKOFF_MAX_SECONDS"]


def test_the_back_off_lifts_when_its_wait_is_over(app, client, pollster, sign_in):
    for attempt in range(app.config["LOGIN_FREE_FAILURES"] + 1):
        sign_in(client, EMAIL, f"guess {attempt}")
    assert sign_in(client, EMAIL).status_code == 429
    with app.app_context():
        later = utcnow() - timedelta(seconds=app.config["LOGIN_BACKOFF_SECONDS"] + 1)
        db.session.execute(sa.update(LoginFailure).values(failed_at=later))
        db.session.commit()
    assert sign_in(client, EMAIL).status_code == 302
    with app.app_context():  # a successful sign-in clears that pair's failures
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 0


def test_failures_store_no_address_in_clear(app, client, pollster, sign_in):
    sign_in(_from(client, "203.0.113.5"), EMAIL, "guess")
    with app.app_context():
        [failure] = db.session.scalars(sa.select(LoginFailure)).all()
        assert failure.address_key and "203.0.113" not in failure.address_key


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
        long_ago = utcnow() - timedelta(seconds=app.config["LOGIN_FAILURE_MEMORY_SECONDS"] + 1)
        db.session.add_all(LoginFailure(email=f"made-up-{i}@example.org", address_key="k", failed_at=long_ago)
                           for i in range(20))
        db.session.commit()
    sign_in(client, "another-made-up@example.org", "guess")
    with app.app_context():
        assert db.session.scalars(sa.select(LoginFailure.email)).all() == ["another-made-up@example.org"]


# --------------------------------------------------------------------------- sessions end on the server's say

def test_a_cookie_captured_before_logout_no_longer_works(app, client, pollster, sign_in):
    sign_in(client, EMAIL)
    captured = client.get_cookie("session").value
    assert client.post("/pollster/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", captured)
    assert replay.get("/pollster/").status_code == 302


def test_a_password_change_ends_the_other_sessions(app, client, pollster, sign_in):
    other = app.test_client()
    sign_in(client, EMAIL)
    sign_in(other, EMAIL)
    changed = client.post("/pollster/password", data={
        "current_password": TEST_PASSWORD, "new_password": "another long password", "repeat": "another long password"})
    assert changed.status_code == 302
    assert client.get("/pollster/").status_code == 200
    assert other.get("/pollster/").status_code == 302
    assert sign_in(app.test_client(), EMAIL, "another long password").status_code == 302


def test_a_password_change_needs_the_current_password(app, client, pollster, sign_in):
    sign_in(client, EMAIL)
    refused = client.post("/pollster/password", data={
        "current_password": "not it", "new_password": "another long password", "repeat": "another long password"})
    assert refused.status_code == 400 and b"current password is not right" in refused.data
    assert sign_in(app.test_client(), EMAIL).status_code == 302


def test_sign_in_renews_the_session_and_the_csrf_token(app, database_url, pollster):
    guarded = app_for(database_url, WTF_CSRF_ENABLED=True)
    client = guarded.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/pollster/login").get_data(as_text=True)).group(1)
    before = client.get_cookie("session").value
    assert client.post("/pollster/login", data={"email": EMAIL, "password": TEST_PASSWORD, "csrf_token": token}).status_code == 302
    assert client.get_cookie("session").value != before
    assert client.post("/pollster/logout", data={"csrf_token": token}).status_code == 400  # the token from before sign-in
    fresh = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/pollster/tokens").get_data(as_text=True)).group(1)
    assert client.post("/pollster/logout", data={"csrf_token": fresh}).status_code == 302
    with guarded.app_context():
        db.engine.dispose()
