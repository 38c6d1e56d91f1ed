"""The JSON API: bearer tokens only, one error envelope, and an OpenAPI document of every route."""
import hashlib
import re

import jsonschema
import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from survey.extensions import db
from survey.models import ApiToken

OWNER, OTHER = "ana@example.org", "ben@example.org"


def create_token(client, sign_in, email: str, name: str = "script") -> str:
    sign_in(client, email)
    page = client.post("/pollster/tokens", data={"name": name}).get_data(as_text=True)
    client.post("/pollster/logout")
    return re.search(r"svy_[\w-]+", page).group()


@pytest.fixture
def tokens(app, client, default_survey, make_pollster, sign_in):
    make_pollster(OWNER, default_survey)
    make_pollster(OTHER)
    return {email: create_token(client, sign_in, email) for email in (OWNER, OTHER)}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(response, message: str) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json == {"error": {"code": 401, "title": "Unauthorized", "message": message}}


def test_no_token_is_refused_with_the_json_envelope(client, tokens):
    assert_unauthorized(client.get("/api/surveys"), "Send an API token in the header Authorization: Bearer <token>.")
    assert_unauthorized(
        client.get("/api/surveys", headers={"Authorization": "Basic abc"}),
        "Send an API token in the header Authorization: Bearer <token>.",
    )


def test_an_unknown_token_is_refused(client, tokens):
    assert_unauthorized(
        client.get("/api/surveys", headers=bearer("svy_not-a-real-token")),
        "The API token is not valid or has been revoked; create a new one on the API tokens page.",
    )


def test_a_revoked_token_is_refused(app, client, tokens, sign_in):
    assert client.get("/api/surveys", headers=bearer(tokens[OWNER])).status_code == 200
    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.token_hash == hashlib.sha256(tokens[OWNER].encode()).hexdigest()))
    sign_in(client, OWNER)
    client.post(f"/pollster/tokens/{token_id}/revoke")
    client.post("/pollster/logout")
    assert_unauthorized(
        client.get("/api/surveys", headers=bearer(tokens[OWNER])),
        "The API token is not valid or has been revoked; create a new one on the API tokens page.",
    )


def test_a_signed_in_browser_session_is_not_api_authentication(client, tokens, sign_in):
    sign_in(client, OWNER)
    assert client.get("/pollster/").status_code == 200
    assert client.get("/api/surveys").status_code == 401


def test_only_a_hash_of_the_token_is_stored_and_the_secret_is_shown_once(app, client, tokens, sign_in):
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiToken.token_hash)).all()
    assert hashlib.sha256(tokens[OWNER].encode()).hexdigest() in stored
    assert tokens[OWNER] not in stored
    sign_in(client, OWNER)
    again = client.get("/pollster/tokens")
    assert again.headers["Cache-Control"] == "no-store"
    assert tokens[OWNER] not in again.get_data(as_text=True)


def test_a_token_cannot_be_revoked_by_another_pollster(app, client, tokens, sign_in):
    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.token_hash == hashlib.sha256(tokens[OWNER].encode()).hexdigest()))
    sign_in(client, OTHER)
    assert client.post(f"/pollster/tokens/{token_id}/revoke").status_code == 404
    assert client.get("/api/surveys", headers=bearer(tokens[OWNER])).status_code == 200


def test_surveys_and_fieldwork_of_the_token_owner(app, client, tokens, default_survey):
    listed = client.get("/api/surveys", headers=bearer(tokens[OWNER])).json
    assert [survey["slug"] for survey in listed["surveys"]] == [default_survey]
    assert client.get("/api/surveys", headers=bearer(tokens[OTHER])).json == {"surveys": []}

    fieldwork = client.get(f"/api/surveys/{default_survey}/fieldwork", headers=bearer(tokens[OWNER]))
    assert fieldwork.status_code == 200
    assert fieldwork.json["survey"]["slug"] == default_survey
    assert fieldwork.json["started"] == 0 and fieldwork.json["completion_rate"] is None

    hidden = client.get(f"/api/surveys/{default_survey}/fieldwork", headers=bearer(tokens[OTHER]))
    missing = client.get("/api/surveys/no-such-survey/fieldwork", headers=bearer(tokens[OTHER]))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json == missing.json  # a survey one does not own looks exactly like one that does not exist
    assert set(hidden.json["error"]) == {"code", "title", "message"}


def test_the_fieldwork_answer_matches_its_declared_schema(app, client, tokens, default_survey):
    document = client.get("/api/openapi.json").json
    body = client.get(f"/api/surveys/{default_survey}/fieldwork", headers=bearer(tokens[OWNER])).json
    declared = document["paths"]["/api/surveys/{slug}/fieldwork"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**declared, "components": document["components"]}).validate(body)


def test_openapi_document_is_valid_and_lists_every_api_route(app, client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200  # no token needed
    document = response.json
    validate(document)
    assert document["openapi"].startswith("3.1")
    api_rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]
    assert api_rules
    for rule in api_rules:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        assert path in document["paths"], f"{rule.rule} ({rule.endpoint}) is missing: declare it with @bp.response (survey/api/openapi.py)"
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = document["paths"][path][method.lower()]
            assert operation["summary"], f"{method} {rule.rule} needs a docstring"
            if operation.get("security") != []:
                assert "401" in operation["responses"]


def test_docs_page_lists_the_operations(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "/api/surveys/{slug}/fieldwork" in page
    assert "The surveys this token&#39;s pollster owns" in page


def test_an_unknown_api_path_answers_in_json(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["code"] == 404


# --------------------------------------------------------------------------- expiry, scope and last use

def _second_survey(app, owner_email: str) -> str:
    """A copy of the default survey under another slug, owned by ``owner_email``."""
    from survey.models import Pollster
    from survey.questionnaires.loading import default_questionnaire_path, read_document
    from survey.questionnaires.sync import load_into_database
    from survey.questionnaires.validation import parse

    document = read_document(default_questionnaire_path().read_text())
    document["slug"] = "second-survey"
    with app.app_context():
        survey = load_into_database(parse(document), db.session)
        survey.owners.append(db.session.scalar(sa.select(Pollster).where(Pollster.email == owner_email)))
        db.session.commit()
        return survey.slug


def test_a_token_can_expire(app, client, tokens, sign_in):
    from datetime import timedelta

    from survey.models import utcnow

    sign_in(client, OWNER)
    page = client.post("/pollster/tokens", data={"name": "for a week", "expires_in_days": "7"}).get_data(as_text=True)
    secret = re.search(r"svy_[\w-]+", page).group()
    assert client.get("/api/surveys", headers=bearer(secret)).status_code == 200
    with app.app_context():
        token = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "for a week"))
        assert timedelta(days=6) < token.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None) <= timedelta(days=7)
        token.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert_unauthorized(client.get("/api/surveys", headers=bearer(secret)),
                        "The API token has expired; create a new one on the API tokens page.")


def test_a_token_scoped_to_one_survey_sees_only_that_survey(app, client, tokens, sign_in, default_survey):
    second = _second_survey(app, OWNER)
    sign_in(client, OWNER)
    page = client.post("/pollster/tokens", data={"name": "one survey", "survey": second}).get_data(as_text=True)
    secret = re.search(r"svy_[\w-]+", page).group()
    listed = client.get("/api/surveys", headers=bearer(secret)).json["surveys"]
    assert [survey["slug"] for survey in listed] == [second]
    assert client.get(f"/api/surveys/{second}/fieldwork", headers=bearer(secret)).status_code == 200
    assert client.get(f"/api/surveys/{default_survey}/fieldwork", headers=bearer(secret)).status_code == 404
    assert client.get(f"/api/surveys/{default_survey}/fieldwork", headers=bearer(tokens[OWNER])).status_code == 200


def test_a_token_cannot_be_scoped_to_a_survey_of_someone_else(app, client, tokens, sign_in, default_survey):
    sign_in(client, OTHER)
    response = client.post("/pollster/tokens", data={"name": "not mine", "survey": default_survey})
    assert "svy_" not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "not mine")) is None


def test_the_tokens_page_shows_last_use_expiry_and_scope(app, client, tokens, sign_in, default_survey):
    sign_in(client, OWNER)
    client.post("/pollster/tokens", data={"name": "scoped", "survey": default_survey, "expires_in_days": "30"})
    before = client.get("/pollster/tokens").get_data(as_text=True)
    assert before.count(">never<") == 2  # neither token used yet
    client.get("/api/surveys", headers=bearer(tokens[OWNER]))
    page = client.get("/pollster/tokens").get_data(as_text=True)
    assert page.count(">never<") == 1
    assert f"only {default_survey}" in page and "all your surveys" in page and "expires" in page
