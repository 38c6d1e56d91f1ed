"""Every response each API operation documents, provoked on a weighted poll and checked against
the schema the OpenAPI document gives for it (the same declaration that serialised it).

Nothing here names a route: an operation added later is covered as soon as it is declared, and
a status or path parameter this file cannot provoke fails with a message saying what to add.
"""
import re

import jsonschema
import pytest
import sqlalchemy as sa

from survey.api.openapi import problems_of
from survey.extensions import db
from survey.models import Pollster, Survey
from survey.responses.quality import ExclusionRules
from survey.weighting.reference_data import california_adult_targets
from survey.weighting.runs import create_run, publish_run
from survey.weighting.settings import WeightingSettings
from tests.support.polls import seed_poll

OWNER = "owner@example.org"
FILE = "toplines.csv"


@pytest.fixture
def weighted(app, client, default_survey, make_pollster, sign_in):
    """The owner's token (its survey weighted, the run published) and the values of every path parameter, all belonging to the owner."""
    owner_id = make_pollster(OWNER, default_survey)
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == default_survey))
        seed_poll(survey, 120)
        run = create_run(survey, WeightingSettings(california_adult_targets()), ExclusionRules(), db.session.get(Pollster, owner_id))
        publish_run(run)  # /results and /banner serve the published run
        db.session.commit()
        run_id = run.id
    sign_in(client, OWNER)
    page = client.post("/pollster/tokens", data={"name": "schema check"}).get_data(as_text=True)
    client.post("/pollster/logout")
    return re.search(r"svy_[\w-]+", page).group(), {"slug": default_survey, "run_id": run_id, "name": FILE, "extension": "csv"}


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                yield path, method, operation, item.get("parameters", []) + operation.get("parameters", [])


def resolved(document, response):
    if "$ref" in response:
        return document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def body_schema(document, operation):
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema and "$ref" in schema:
        return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def provoke(client, token, values, document, path, method, operation, parameters, status):
    """A request for which ``path`` should answer ``status``; a JSON body, if declared, takes every default."""
    values = dict(values)
    body = body_schema(document, operation)
    query, headers, json = {}, {"Authorization": f"Bearer {token}"}, {} if body else None
    if status == "401":
        headers = {}
    elif status == "404":
        values["slug"] = "no-such-survey"
    elif status == "400":
        refusable = [p["name"] for p in parameters if p["in"] == "query" and "enum" in p["schema"]]
        fields = [name for name, field in (body or {}).get("properties", {}).items() if "enum" in field]
        assert refusable or fields, f"{method.upper()} {path} documents a 400 but no parameter with choices to refuse"
        if refusable:
            query[refusable[0]] = "not-a-choice"
        else:
            json = {fields[0]: "not-a-choice"}
    else:
        assert status in ("200", "201"), f"{method.upper()} {path}: teach this test to provoke a {status}"
    for name in re.findall(r"{(\w+)}", path):
        assert name in values, f"{method.upper()} {path}: add a value for the path parameter {name!r}"
    url = re.sub(r"{(\w+)}", lambda match: str(values[match[1]]), path)
    return client.open(url, method=method.upper(), headers=headers, query_string=query, json=json)


def test_every_documented_response_matches_its_schema(client, weighted):
    token, values = weighted
    document = client.get("/api/openapi.json").json
    checked = set()
    for path, method, operation, parameters in operations(document):
        for status, declared in operation["responses"].items():
            response = provoke(client, token, values, document, path, method, operation, parameters, status)
            assert str(response.status_code) == status, f"{method.upper()} {path}: {response.status_code}, not {status}"
            content = resolved(document, declared).get("content", {})
            if "application/json" in content:
                assert response.mimetype == "application/json", f"{method.upper()} {path} {status}"
                schema = {**content["application/json"]["schema"], "components": document["components"]}
                jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(response.json)
            else:
                assert response.data, f"{method.upper()} {path} {status} answered nothing"
            checked.add(status)
    assert {"200", "400", "401", "404"} <= checked


def test_a_refused_parameter_is_named_in_the_error_envelope(client, weighted):
    token, values = weighted
    response = client.get(f"/api/surveys/{values['slug']}/results?ci=wald", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.json["error"]["title"] == "Bad Request"
    assert response.json["error"]["message"].startswith("ci: Must be one of: logit, beta")


def test_a_refusal_inside_a_body_names_its_place():
    messages = {"bounds": {0: ["Not a valid number."]}, "merge": {"sex": {"value": {"x": {"value": ["Not a valid string."]}}}},
                "_schema": ["Invalid input type."]}
    assert problems_of(messages) == ["bounds[0]: Not a valid number.", "merge.sex.value.x.value: Not a valid string.",
                                   "the request body: Invalid input type."]
