"""Property-based fuzzing: whatever is posted to a form or sent to the API, the site never fails
with a 500, and a request it refuses stores nothing.

The app runs with TESTING on, so an unhandled exception would surface here as an error rather
than as a 500 page. Example counts are small and fixed, so the suite stays fast.
"""
from __future__ import annotations

import re

import hypothesis.strategies as st
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from werkzeug.datastructures import FileStorage, MultiDict

from survey.extensions import db
from survey.models import Answer, ApiToken, Invitation, PageVisit, Response, Survey, TargetSet, WeightingRun
from tests.support.respondents import RESPOND_FIXTURE, Respondent, load_open_survey

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible, not flaky
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
PRINTABLE = st.characters(blacklist_categories=("Cs",))  # text a browser can send (no lone surrogates)
ANY_TEXT = st.text(PRINTABLE, max_size=80)
TRICKY = st.sampled_from([
    "", " ", "yes", "no", "leave", "remain", "not_sure", "economy", "water", "fires", "red", "blue", "18", "110",
    "17", "111", "0", "-1", "1e309", "nan", "Infinity", "3.5", "٣", "\x00", "\x1b[31m", "a" * 5000,
    "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%00", "{}", "[]", "null",
])
VALUES = st.one_of(TRICKY, ANY_TEXT)
STORED = (Response, Answer, PageVisit, Invitation, ApiToken, TargetSet, WeightingRun)


def _counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {model.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(model)) for model in STORED}
        db.session.remove()
        return counts


# --------------------------------------------------------------------------- respondent forms

RESPONDENT_FIELDS = ["q_resident", "q_calexit", "q_issues", "q_leave_strength", "q_attention", "q_age", "q_comment",
                     "website", "visit", "csrf_token", "start", "q_unknown", "q_", "data", "meta"]


@st.composite
def respondent_posts(draw, real_hidden: dict[str, str]):
    """Random fields and values, with the page's real hidden fields kept or forged at random."""
    fields = draw(st.lists(st.tuples(st.one_of(st.sampled_from(RESPONDENT_FIELDS), ANY_TEXT), VALUES), max_size=10))
    for name, value in real_hidden.items():
        if draw(st.booleans()):
            fields.append((name, value))
    return fields


def test_fuzzed_respondent_pages_never_fail_and_refusals_store_nothing(app, client):
    slug = load_open_survey(app, RESPOND_FIXTURE)
    browser = Respondent(client, slug)
    consent_page = browser.open(f"/s/{slug}/consent")
    start_token = re.search(r'name="start" type="hidden" value="([^"]*)"', consent_page).group(1)
    browser.start()
    browser.answer({"resident": "yes"})
    pages = {"opinions": browser.form_fields()}
    browser.answer({"calexit": "leave"})
    pages["leavers"] = browser.form_fields()
    targets = [(f"/s/{slug}/p/{page}", hidden) for page, hidden in pages.items()]
    targets.append((f"/s/{slug}/consent", {"start": start_token}))

    @FUZZ
    @given(st.sampled_from(targets).flatmap(lambda target: st.tuples(st.just(target[0]), respondent_posts(target[1]))))
    def post_anything(path_and_fields):
        path, fields = path_and_fields
        before = _counts(app)
        response = client.post(path, data=MultiDict(fields))
        assert response.status_code in (200, 302, 400), (path, response.status_code)
        if response.status_code != 302:
            assert _counts(app) == before, f"a refused POST to {path} stored something"

    post_anything()


# --------------------------------------------------------------------------- pollster forms

POLLSTER_FIELDS = ["name", "email", "password", "method", "trim", "max_weight", "min_weight", "lower", "upper",
                   "variable", "level", "share", "targets", "file", "csv", "status", "csrf_token", "interval", "ci"]


def _post_rules(app) -> list[str]:
    return sorted(
        rule.rule for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/pollster") and "POST" in rule.methods and rule.endpoint != "pollster.logout"
    )


def _fill(rule: str, slug: str) -> str:
    rule = re.sub(r"<any\(([^,)]+)[^)]*\):status>", r"\1", rule)
    return re.sub(r"<int:\w+>", "1", rule).replace("<slug>", slug)


@st.composite
def pollster_posts(draw):
    fields = draw(st.lists(st.tuples(st.one_of(st.sampled_from(POLLSTER_FIELDS), ANY_TEXT), VALUES), max_size=8))
    data = MultiDict(fields)
    if draw(st.booleans()):
        content = draw(st.one_of(st.binary(max_size=300), ANY_TEXT.map(str.encode),
                                 st.just(b"panel_id\nA1\nA1\n"), st.just(b"variable,level,share\nsex,female,1.5\n")))
        from io import BytesIO

        data.add(draw(st.sampled_from(["file", "csv", "targets"])), FileStorage(BytesIO(content), filename="upload.csv"))
    return data


def test_fuzzed_pollster_forms_never_fail(app, client, default_survey, make_pollster, sign_in):
    make_pollster("owner@example.org", default_survey)
    sign_in(client, "owner@example.org")
    paths = [_fill(rule, default_survey) for rule in _post_rules(app)]
    assert len(paths) >= 5, paths

    @FUZZ
    @given(st.sampled_from(paths), pollster_posts())
    def post_anything(path, data):
        before = _counts(app)
        response = client.post(path, data=data, content_type="multipart/form-data")
        assert response.status_code < 500, (path, response.status_code)
        if response.status_code >= 400:
            assert _counts(app) == before, f"a refused POST to {path} stored something"

    post_anything()
    with app.app_context():  # the survey is still the owner's and still loaded
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 1


def test_fuzzed_sign_in_never_fails(app, client):
    @FUZZ
    @given(st.lists(st.tuples(st.sampled_from(["email", "password", "csrf_token", "next"]), VALUES), max_size=4), ANY_TEXT)
    def sign_in_with(fields, next_page):
        response = client.post("/pollster/login", data=MultiDict(fields), query_string={"next": next_page})
        assert response.status_code in (200, 400, 429), response.status_code  # 400: a NUL byte PostgreSQL refuses
        assert response.headers.get("Location") is None, "nobody signed in with a made-up account"

    sign_in_with()


def test_an_id_too_large_for_the_database_is_not_found(client, default_survey, make_pollster, sign_in):
    """Found by the fuzzing below: ``<int:run_id>`` once passed 2**63 to SQLite, which overflowed (a 500)."""
    make_pollster("owner@example.org", default_survey)
    sign_in(client, "owner@example.org")
    huge = 2**63
    assert client.get(f"/pollster/surveys/{default_survey}/runs/{huge}/files/toplines.csv").status_code == 404
    assert client.post(f"/pollster/tokens/{huge}/revoke").status_code == 404
    assert client.get(f"/api/surveys/{default_survey}/runs/{huge}/results").status_code in (401, 404)


# --------------------------------------------------------------------------- the JSON API, from its OpenAPI document

def test_the_api_answers_its_own_openapi_document(app, client, default_survey, make_pollster, sign_in):
    make_pollster("owner@example.org", default_survey)
    sign_in(client, "owner@example.org")
    page = client.post("/pollster/tokens", data={"name": "schemathesis"}).get_data(as_text=True)
    token = re.search(r"svy_[\w-]+", page).group()
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 3

    for operation in operations:
        @settings(max_examples=5, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
        @given(operation.as_strategy())
        def call(case):
            if "slug" in (case.path_parameters or {}):  # the owner's survey: deeper than a 404
                case.path_parameters = {**case.path_parameters, "slug": default_survey}
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"
            if response.status_code < 300 and "json" in response.headers.get("Content-Type", [""])[0]:
                case.validate_response(response)

        call()
