"""Every pollster and API route, found by walking the URL map, refuses strangers.

Nothing here names a route: routes added later are covered as soon as they exist. A URL
parameter is filled with something the owner has (``Fillers``); a route with a parameter
this file cannot fill fails with a message saying what to add.
"""
import hashlib
import io
import re

import pytest
import sqlalchemy as sa
from werkzeug.routing import AnyConverter, Rule

from survey.api.openapi import is_public
from survey.extensions import db
from survey.models import ApiToken, Invitation, Pollster, Survey, WeightingRun
from survey.responses.quality import ExclusionRules
from survey.weighting.reference_data import california_adult_targets
from survey.weighting.runs import create_run, publish_run
from survey.weighting.settings import WeightingSettings
from tests.support.polls import seed_poll
from tests.support.site import TEST_PASSWORD, app_for

OWNER, STRANGER = "owner@example.org", "stranger@example.org"
PUBLIC_ENDPOINTS = {"pollster.login"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def guarded_rules(app) -> list[Rule]:
    rules = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/pollster", "/api")) or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        if is_public(app.view_functions[rule.endpoint]):
            continue
        rules.append(rule)
    assert len(rules) >= 8, "the walk found too few routes; is a blueprint missing?"
    return rules


class Fillers(dict):
    """Values for URL parameters, all belonging to OWNER; a weighting run is made only when
    a route first asks for ``run_id``, so the walk costs nothing for routes without one."""

    def __init__(self, app, slug: str, token_id: int, owner_id: int):
        super().__init__(slug=slug, token_id=token_id, name="respondents.csv", code="calexit")
        self.app, self.owner_id = app, owner_id

    def __missing__(self, name: str):
        if name != "run_id":
            raise KeyError(name)
        with self.app.app_context():
            survey = db.session.scalar(sa.select(Survey).where(Survey.slug == self["slug"]))
            seed_poll(survey, 120)
            run = create_run(survey, WeightingSettings(california_adult_targets()), ExclusionRules(), db.session.get(Pollster, self.owner_id))
            db.session.commit()
            self[name] = run.id
        return self[name]


def urls(rule: Rule, fillers: dict) -> list[str]:
    """Every URL of ``rule`` with its parameters filled in (each value of an ``any`` converter)."""
    combos: list[dict] = [{}]
    for name in sorted(rule.arguments):
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            values = sorted(converter.items)
        else:
            try:
                values = [fillers[name]]
            except KeyError:
                pytest.fail(f"{rule.rule} ({rule.endpoint}) has a parameter <{name}>: teach Fillers in {__file__} a value for it")
        combos = [{**combo, name: value} for combo in combos for value in values]
    path = re.sub(r"<(?:[^:<>]+(?:\([^)]*\))?:)?([^<>]+)>", r"{\1}", rule.rule)
    return [path.format(**combo) for combo in combos]


def requests_for(app, fillers):
    for rule in guarded_rules(app):
        for method in sorted(rule.methods - IGNORED_METHODS):
            for url in urls(rule, fillers):
                yield rule, method, url


@pytest.fixture
def seeded(app, client, default_survey, make_pollster, sign_in):
    """The default survey owned by OWNER, with an API token each; returns the URL fillers and tokens."""
    owner_id = make_pollster(OWNER, default_survey)
    make_pollster(STRANGER)
    secrets = {}
    for email in (OWNER, STRANGER):
        sign_in(client, email)
        page = client.post("/pollster/tokens", data={"name": "walk"}).get_data(as_text=True)
        secrets[email] = re.search(r"svy_[\w-]+", page).group()
        client.post("/pollster/logout")
    with app.app_context():
        owner_token = db.session.scalar(
            sa.select(ApiToken.id).where(ApiToken.token_hash == hashlib.sha256(secrets[OWNER].encode()).hexdigest())
        )
    return Fillers(app, default_survey, owner_token, owner_id), secrets


def test_anonymous_requests_are_sent_to_sign_in_or_refused(app, client, seeded):
    fillers, _ = seeded
    for rule, method, url in requests_for(app, fillers):
        response = client.open(url, method=method)
        if rule.rule.startswith("/api"):
            assert response.status_code == 401, f"anonymous {method} {url}"
            assert response.json["error"]["code"] == 401
        else:
            assert response.status_code == 302, f"anonymous {method} {url}"
            assert response.headers["Location"].startswith("/pollster/login"), f"anonymous {method} {url}"


def test_a_browser_session_does_not_open_the_api(app, client, seeded, sign_in):
    fillers, _ = seeded
    sign_in(client, OWNER)
    for rule, method, url in requests_for(app, fillers):
        if rule.rule.startswith("/api"):
            assert client.open(url, method=method).status_code == 401, f"{method} {url} with a session cookie"


def test_a_pollster_who_does_not_own_the_survey_gets_not_found(app, client, seeded, sign_in):
    fillers, secrets = seeded
    sign_in(client, STRANGER)
    checked = 0
    for rule, method, url in requests_for(app, fillers):
        if not rule.arguments:
            continue  # nothing to own: the stranger's own dashboard, token list, ...
        headers = {"Authorization": f"Bearer {secrets[STRANGER]}"} if rule.rule.startswith("/api") else {}
        response = client.open(url, method=method, headers=headers)
        assert response.status_code in (403, 404), f"{method} {url} as a stranger gave {response.status_code}"
        checked += 1
    assert checked >= 5
    with app.app_context():  # and nothing changed
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == fillers["slug"]))
        assert survey.status == "draft"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0
        assert db.session.get(ApiToken, fillers["token_id"]).revoked_at is None


def test_the_owner_reaches_every_page_the_stranger_cannot(app, client, seeded, sign_in):
    """Proves the fillers are right: the 404s above are about ownership, not a wrong URL."""
    fillers, secrets = seeded
    sign_in(client, OWNER)
    with app.app_context():  # a published run, for the routes that serve it without naming it
        publish_run(db.session.get(WeightingRun, fillers["run_id"]))
        db.session.commit()
    for rule, method, url in requests_for(app, fillers):
        if method != "GET" or not rule.arguments:
            continue
        headers = {"Authorization": f"Bearer {secrets[OWNER]}"} if rule.rule.startswith("/api") else {}
        response = client.get(url, headers=headers)
        assert response.status_code < 400, f"GET {url} as its owner gave {response.status_code}"


@pytest.fixture
def csrf_app(app, database_url):
    strict = app_for(database_url, WTF_CSRF_ENABLED=True)
    yield strict
    with strict.app_context():
        db.engine.dispose()


def test_every_pollster_form_needs_a_csrf_token(csrf_app, seeded):
    fillers, _ = seeded
    client = csrf_app.test_client()
    login_page = client.get("/pollster/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    assert client.post("/pollster/login", data={"email": OWNER, "password": TEST_PASSWORD}).status_code == 400
    signed_in = client.post("/pollster/login", data={"email": OWNER, "password": TEST_PASSWORD, "csrf_token": token})
    assert signed_in.status_code == 302
    posts = 0
    for rule in csrf_app.url_map.iter_rules():
        if not rule.rule.startswith("/pollster"):
            continue
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"}):
            for url in urls(rule, fillers):
                response = client.open(url, method=method)
                assert response.status_code == 400, f"{method} {url} without a CSRF token gave {response.status_code}"
                posts += 1
    assert posts >= 5
    assert client.get("/pollster/").status_code == 200  # still signed in: the refusals changed nothing


# --------------------------------------------------------------------------- hostile parameters get a 400, never a 500

@pytest.fixture
def owner(client, seeded, sign_in):
    fillers, _ = seeded
    sign_in(client, OWNER)
    return fillers


@pytest.mark.parametrize("target, allowed", [
    ("https://evil.example/", False), ("//evil.example/", False), ("/\\evil.example", False),
    ("/pollster/surveys/california-2025/results", True),
])
def test_the_rerun_goes_back_only_to_a_page_of_this_site(client, owner, target, allowed):
    response = client.post(f"/pollster/surveys/{owner['slug']}/weighting/runs/{owner['run_id']}/rerun", data={"next": target})
    assert response.status_code == 302
    assert (response.location == target) is allowed
    assert response.location.startswith("/pollster/")


@pytest.mark.parametrize("path", ["weighting", "results"])
def test_a_run_number_too_large_for_the_database_is_a_400(client, owner, path):
    response = client.get(f"/pollster/surveys/{owner['slug']}/{path}", query_string={"run": "9" * 20})
    assert response.status_code == 400
    assert "run" in response.get_data(as_text=True)


@pytest.mark.parametrize("key", ["share:x", "share:", "share:a:b:c:"])
def test_a_malformed_share_field_in_the_targets_editor_is_a_400(client, owner, key):
    response = client.post(f"/pollster/surveys/{owner['slug']}/weighting/targets", data={key: "0.5"})
    assert response.status_code == 400
    assert "not saved" in response.get_data(as_text=True)


def test_too_many_panel_ids_get_a_clear_400(app, client, owner):
    from survey.responses.invitations import MAX_INVITATIONS_PER_UPLOAD

    panel_ids = "\n".join(str(number) for number in range(MAX_INVITATIONS_PER_UPLOAD + 20_000)).encode()
    assert len(panel_ids) < 500 * 1024  # the test client keeps it in memory
    response = client.post(f"/pollster/surveys/{owner['slug']}/invitations",
                           data={"panel_ids_csv": (io.BytesIO(panel_ids), "panel.csv")})
    assert response.status_code == 400
    assert f"at most {MAX_INVITATIONS_PER_UPLOAD:,}" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 0


def test_invitations_are_checked_and_stored_in_batches(app, monkeypatch):
    """The existence check and the inserts stay under PostgreSQL's 65,535 parameters per statement."""
    from survey.responses import invitations

    monkeypatch.setattr(invitations, "BATCH_SIZE", 7)
    with app.app_context():
        from survey.questionnaires.loading import default_questionnaire_path, load_file
        from survey.questionnaires.sync import load_into_database

        survey = load_into_database(load_file(default_questionnaire_path()), db.session)
        db.session.commit()
        statements = []
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[3]))
        created = invitations.create_invitations(survey, [f"p{number}" for number in range(30)])
        db.session.commit()
        assert len(created) == 30
        with pytest.raises(ValueError, match="30 panel ID"):
            invitations.create_invitations(survey, [f"p{number}" for number in range(30)])
        sizes = [len(parameters) if isinstance(parameters, (list, tuple, dict)) else 1 for parameters in statements]
        assert max(sizes) <= 7 * 4
