"""Issue #11: the default poll is weighted to the population it samples (California registered
voters), the page says when targets describe another universe, an empty target level is never
a dead end, and runs are named, locked and published, the API serving the published one."""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, Survey, WeightingRun
from survey.questionnaires.loading import default_questionnaire_path, read_document
from survey.questionnaires.model import QuestionnaireError
from survey.questionnaires.sync import questionnaire_of
from survey.questionnaires.validation import parse
from survey.weighting.reference_data import registered_voter_targets
from survey.weighting.requests import level_counts, plan_run
from survey.weighting.settings import RunRequestError
from tests.support.polls import load_default_survey, seed_poll

OWNER = "population@example.org"


class _FormDefaults(HTMLParser):
    """What a browser would send for the form posting to ``action``, untouched: checked boxes,
    selected options, every other named input's value."""

    def __init__(self, action: str):
        super().__init__()
        self.action, self.inside, self.select = action, False, None
        self.data: list[tuple[str, str]] = []
        self.first_option: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("action") == self.action
        elif not self.inside:
            return
        elif tag == "input" and attrs.get("name") and attrs.get("type") not in ("submit",):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.data.append((attrs["name"], attrs.get("value", "")))
        elif tag == "select":
            self.select = attrs.get("name")
        elif tag == "option" and self.select:
            self.first_option.setdefault(self.select, attrs.get("value", ""))
            if "selected" in attrs:
                self.data.append((self.select, attrs.get("value", "")))
                self.first_option[self.select] = None

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select:
            if self.first_option.get(self.select) is not None:
                self.data.append((self.select, self.first_option[self.select]))
            self.select = None


def form_defaults(page: str, action: str) -> dict[str, list[str]]:
    parser = _FormDefaults(action)
    parser.feed(page)
    data: dict[str, list[str]] = {}
    for name, value in parser.data:
        data.setdefault(name, []).append(value)
    return data


def _owner(app, client, make_pollster, sign_in, completions: int, lacking: dict[str, str] | None = None) -> str:
    """The default survey with ``completions`` simulated completes, owned by a signed-in pollster;
    ``lacking`` {variable: level} recodes every answer of that level to another, so nobody gave it."""
    with app.app_context():
        survey = load_default_survey()
        seed_poll(survey, completions, seed=11)
        for code, level in (lacking or {}).items():
            other = next(c for c in questionnaire_of(survey).question(code).option_codes if c != level)
            for answer in db.session.scalars(sa.select(Answer).where(Answer.question_code == code)):
                if answer.value == level:
                    answer.value = other
        db.session.commit()
        slug = survey.slug
    make_pollster(OWNER, slug)
    sign_in(client, OWNER)
    return slug


def _weighting_page(client, slug: str, query: str = "") -> str:
    return client.get(f"/pollster/surveys/{slug}/weighting{query}").get_data(as_text=True)


def _token(client) -> dict[str, str]:
    page = client.post("/pollster/tokens", data={"name": "population"}).get_data(as_text=True)
    token = re.search(r"svy_[\w-]+", page).group()
    return {"Authorization": f"Bearer {token}"}


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_form_defaults_weight_the_default_poll_to_registered_voters(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 400)
    page = _weighting_page(client, slug)
    form = form_defaults(page, f"/pollster/surveys/{slug}/weighting/run")
    assert form["target_set"] == ["registered_voters"]
    response = client.post(f"/pollster/surveys/{slug}/weighting/run", data=form)
    assert response.status_code == 302, _text(response.get_data(as_text=True))[:600]
    shipped = registered_voter_targets()
    with app.app_context():
        run = db.session.scalar(sa.select(WeightingRun))
        targets = run.settings["targets"]
        assert targets["universe"] == "California registered voters"
        assert 22.55e6 <= targets["population"] <= 22.95e6  # "about 22.6-22.9 million"
        assert run.diagnostics["sum_of_weights"] == pytest.approx(targets["population"])
        assert set(targets["margins"]) == {"region", "party", "vote_2024", "sex", "race", "age_group"}
        assert "did_not_vote" in targets["margins"]["vote_2024"]
        assert run.settings["universe"] == {"survey": "California registered voters",
                                            "targets": "California registered voters", "differ": False,
                                            "confirmed": False}
        achieved = {(m["variable"], m["level"]): m["achieved"] for m in run.diagnostics["margins"]}
        for variable in ("party", "vote_2024", "region", "sex", "race"):
            for level, share in shipped.variable(variable).shares.items():
                assert achieved[variable, level] == pytest.approx(share, abs=1e-6), (variable, level)


def test_the_page_shows_each_target_with_labels_source_and_flag_and_leaves_optional_ones_unticked(
        app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 120)
    page = _weighting_page(client, slug)
    ticked = form_defaults(page, f"/pollster/surveys/{slug}/weighting/run")["variables"]
    assert "education" not in ticked and {"party", "vote_2024", "region", "sex", "race"} <= set(ticked)
    education = _text(page.split('id="target-education"')[1].split('class="target-variable"')[0])
    assert "assumption" in education and "optional: not weighted by default" in education
    party = _text(page.split('id="target-party"')[1].split('class="target-variable"')[0])
    assert "Party registration" in party and "computed" in party and "Secretary of State" in party
    vote = _text(page.split('id="target-vote_2024"')[1].split('class="target-variable"')[0])
    with app.app_context():
        labels = {o.code: o.label["en"] for o in questionnaire_of(db.session.scalar(sa.select(Survey))).question("vote_2024").options}
    assert labels["did_not_vote"] in vote and ">did_not_vote<" not in page.split('id="target-vote_2024"')[1][:3000]


def test_targets_of_another_universe_need_a_confirmation_on_the_form_and_the_api(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 150)
    page = _weighting_page(client, slug, "?targets=adults")
    assert "This survey samples California registered voters" in _text(page)
    assert "These targets describe California adults" in _text(page) and "not the same population" in page
    form = form_defaults(page, f"/pollster/surveys/{slug}/weighting/run")
    assert form["target_set"] == ["adults"] and "confirm_universe" not in form
    refused = client.post(f"/pollster/surveys/{slug}/weighting/run", data=form)
    assert refused.status_code == 400
    message = ("These targets describe California adults, but this survey samples California registered voters")
    assert message in _text(refused.get_data(as_text=True))
    headers = _token(client)
    api = client.post(f"/api/surveys/{slug}/runs", json={"target_set": "adults"}, headers=headers)
    assert api.status_code == 400 and message in api.json["error"]["message"]
    done = client.post(f"/pollster/surveys/{slug}/weighting/run", data={**form, "confirm_universe": "y"})
    assert done.status_code == 302
    run = client.post(f"/api/surveys/{slug}/runs", json={"target_set": "adults", "confirm_universe": True},
                      headers=headers)
    assert run.status_code == 201
    universe = run.json["settings"]["universe"]
    assert universe == {"survey": "California registered voters", "targets": "California adults", "differ": True,
                        "confirmed": True}
    assert "Targets for California adults, survey of California registered voters" in _text(
        _weighting_page(client, slug, f"?run={run.json['id']}"))


def test_an_empty_target_level_is_named_with_a_way_out_never_a_dead_end(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 80, lacking={"race": "other"})
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey))
        included, counts = level_counts(survey)
    assert included <= 80 and "other" not in counts["race"]
    page = _weighting_page(client, slug)
    race = page.split('id="target-race"')[1].split('class="target-variable"')[0]
    assert "No respondents yet" in race and 'name="merge:race:other"' in race
    form = form_defaults(page, f"/pollster/surveys/{slug}/weighting/run")
    refused = client.post(f"/pollster/surveys/{slug}/weighting/run", data=form)
    assert refused.status_code == 400
    text = _text(refused.get_data(as_text=True))
    assert (f"Race and Hispanic origin = Another race, or more than one (other) has no respondents among the {included} "
            "included, so nothing can be weighted to its target: merge it into another level for this run, or leave "
            "Race and Hispanic origin out") in text
    api = client.post(f"/api/surveys/{slug}/runs", json={}, headers=_token(client))
    assert api.status_code == 400 and "Race and Hispanic origin = Another race, or more than one (other) has no respondents" in api.json["error"]["message"]

    # merge every empty level (race=other and whatever else 30 people left empty) into the largest level
    merges = {}
    for variable in form["variables"]:
        if not variable:
            continue
        given = counts.get(variable, {})
        largest = max(given, key=given.get)
        for key in form:
            if key.startswith(f"merge:{variable}:"):
                merges[key] = largest
    assert "merge:race:other" in merges
    done = client.post(f"/pollster/surveys/{slug}/weighting/run", data={**form, **merges})
    assert done.status_code == 302, _text(done.get_data(as_text=True))[:800]
    shipped = registered_voter_targets().variable("race").shares
    with app.app_context():
        run = db.session.scalar(sa.select(WeightingRun))
        race_targets = run.settings["targets"]["margins"]["race"]
        assert "other" not in race_targets
        into = merges["merge:race:other"]
        assert race_targets[into] == pytest.approx(shipped[into] + shipped["other"])
        assert run.settings["merged"]["race"] == {"other": into}
    assert "Another race, or more than one (race) was merged into" in _text(client.get(done.location).get_data(as_text=True))

    # or leave race out (other empty levels still merged)
    without_race = {**form, **{k: v for k, v in merges.items() if not k.startswith("merge:race:")},
                    "variables": [v for v in form["variables"] if v != "race"]}
    left_out = client.post(f"/pollster/surveys/{slug}/weighting/run", data=without_race)
    assert left_out.status_code == 302
    with app.app_context():
        newest = db.session.scalar(sa.select(WeightingRun).order_by(WeightingRun.id.desc()).limit(1))
        assert "race" not in newest.settings["targets"]["margins"]


def test_a_level_with_respondents_cannot_be_merged(app, client, make_pollster, sign_in):
    _owner(app, client, make_pollster, sign_in, 200)
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey))
        with pytest.raises(RunRequestError) as refused:
            plan_run(survey, {"merge": {"sex": {"male": "female"}}})
    assert "Sex = Male has" in str(refused.value) and "only a level nobody gave can be merged" in str(refused.value)


@pytest.mark.parametrize("choices, field, words", [
    ({"variables": []}, "variables", "Choose at least one target variable"),
    ({"variables": ["shoe_size"]}, "variables", "has no target for shoe_size"),
    ({"target_set": "martians"}, "target_set", "Choose a target set among"),
    ({"method": "calibrate", "bounds": [3, 1]}, "bounds", "The lower bound must be above 0 and below the upper one"),
    ({"trim": [0.2, None]}, "trim", "Give both a lower and an upper trimming limit, or neither."),
    ({"speeder_share": 2}, "speeder_share", "between 0.01 and 0.99"),
    ({"exclude": ["sleepy"]}, "exclude", "Unknown quality flag(s) sleepy"),
    ({"colour": "blue"}, "fields", "Unknown field(s) colour"),
    ({"name": "x" * 101}, "name", "at most 100 characters"),
])
def test_run_requests_are_refused_field_by_field(app, choices, field, words):
    with app.app_context():
        survey = load_default_survey()
        with pytest.raises(RunRequestError) as refused:
            plan_run(survey, choices)
    assert words in refused.value.problems[field]


def test_runs_are_named_locked_and_one_is_published_which_the_api_serves(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 300)
    headers = _token(client)
    missing = client.get(f"/api/surveys/{slug}/results", headers=headers)
    assert missing.status_code == 404
    first = client.post(f"/api/surveys/{slug}/runs", json={"name": "Wave 1"}, headers=headers).json
    second = client.post(f"/api/surveys/{slug}/runs", json={"name": "Test run", "trim": [0.3, 3]}, headers=headers).json
    none_yet = client.get(f"/api/surveys/{slug}/results", headers=headers)
    assert none_yet.status_code == 404 and "has no published weighting run yet" in none_yet.json["error"]["message"]

    base = f"/pollster/surveys/{slug}/weighting/runs"
    assert client.post(f"{base}/{first['id']}/publish").status_code == 302
    assert client.get(f"/api/surveys/{slug}/results", headers=headers).json["run"]["id"] == first["id"]
    third = client.post(f"/api/surveys/{slug}/runs", json={}, headers=headers).json
    assert client.get(f"/api/surveys/{slug}/results", headers=headers).json["run"]["id"] == first["id"]
    results_page = _text(client.get(f"/pollster/surveys/{slug}/results").get_data(as_text=True))
    assert f"Weighting run {first['id']}: Wave 1 Published" in results_page  # the published run, not the newest
    latest = _text(client.get(f"/pollster/surveys/{slug}/results?run={third['id']}").get_data(as_text=True))
    assert f"Not published : the API serves run {first['id']}; publish this one" in latest

    # the published run is locked: no rename, rerun or delete
    for action, data in (("rename", {"name": "Changed"}), ("rerun", {}), ("delete", {})):
        refused = client.post(f"{base}/{first['id']}/{action}", data=data)
        assert refused.status_code == 409 and "Wave 1 is locked because it is published" in _text(
            refused.get_data(as_text=True)), action
    # an unlocked run can be renamed, then locked, then no longer deleted
    assert client.post(f"{base}/{second['id']}/rename", data={"name": "Trimmed"}).status_code == 302
    assert client.post(f"{base}/{second['id']}/lock").status_code == 302
    assert client.post(f"{base}/{second['id']}/delete").status_code == 409
    assert client.post(f"{base}/{third['id']}/delete").status_code == 302

    # publishing another run moves the publication: exactly one published run
    published = client.post(f"/api/surveys/{slug}/runs/{second['id']}/publish", headers=headers).json
    assert published["published"] and published["locked"] and published["name"] == "Trimmed"
    runs = {r["id"]: r for r in client.get(f"/api/surveys/{slug}/runs", headers=headers).json["runs"]}
    assert [r["id"] for r in runs.values() if r["published"]] == [second["id"]] and third["id"] not in runs
    assert runs[first["id"]]["locked"]
    assert client.get(f"/api/surveys/{slug}/results", headers=headers).json["run"]["id"] == second["id"]


def test_the_database_refuses_a_second_published_run(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 150)
    headers = _token(client)
    ids = [client.post(f"/api/surveys/{slug}/runs", json={}, headers=headers).json["id"] for _ in range(2)]
    with app.app_context():
        db.session.execute(sa.update(WeightingRun).where(WeightingRun.id == ids[0]).values(published=True))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.update(WeightingRun).where(WeightingRun.id == ids[1]).values(published=True))
            db.session.flush()
        db.session.rollback()


def test_the_api_declares_the_new_operations(client):
    paths = client.get("/api/openapi.json").json["paths"]
    create = paths["/api/surveys/{slug}/runs"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WeightingRunRequest"}
    assert "201" in create["responses"] and "400" in create["responses"]
    assert "post" in paths["/api/surveys/{slug}/runs/{run_id}/publish"]
    assert "published" in paths["/api/surveys/{slug}/results"]["get"]["description"]


def test_the_weighting_form_groups_and_labels_each_methods_controls(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 60)
    page = _weighting_page(client, slug)
    assert re.search(r'data-method="poststratify">\s*<label for="poststratify_by"', page)
    assert re.search(r'data-method="calibrate">\s*<label for="calfun"', page)
    assert re.search(r'data-method="calibrate">\s*<label for="bound_low"', page)
    assert "Post-stratification only" in page and "Calibration only" in page


@pytest.mark.parametrize("value, words", [
    (12, "must name the population the survey samples"),
    ("   ", "must name the population the survey samples"),
    ("x" * 201, "at most 200 characters"),
])
def test_a_questionnaire_universe_must_be_one_short_text(value, words):
    document = read_document(default_questionnaire_path().read_text(encoding="utf-8"))
    document["universe"] = value
    with pytest.raises(QuestionnaireError) as refused:
        parse(document)
    assert any(problem.startswith("universe") and words in problem for problem in refused.value.problems)


def test_the_universe_is_stored_and_picks_the_shipped_targets(app):
    document = read_document(default_questionnaire_path().read_text(encoding="utf-8"))
    assert parse(document).universe == "California registered voters"
    with app.app_context():
        survey = load_default_survey()
        assert survey.universe == "California registered voters"
        survey.universe = "California  adults"
        plan = plan_run(survey, {"variables": ["sex"]})
        assert plan.settings.targets.universe == "California adults"
        assert plan.settings.targets.population == pytest.approx(30_581_534)


def test_targets_with_a_level_nobody_gave_yet_can_still_be_saved(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 30, lacking={"race": "other"})
    page = _weighting_page(client, slug)
    form = form_defaults(page, f"/pollster/surveys/{slug}/weighting/targets")
    assert form["share:race:other"] and form["target_set"] == ["registered_voters"]
    saved = client.post(f"/pollster/surveys/{slug}/weighting/targets", data=form)
    assert saved.status_code == 302
    page = _weighting_page(client, slug)
    assert form_defaults(page, f"/pollster/surveys/{slug}/weighting/run")["target_set"] == ["saved"]
    assert "These targets describe California registered voters" in _text(page)


def test_a_weighting_that_zeroes_respondents_is_refused_in_words_not_a_crash():
    import numpy as np
    import pandas as pd

    from analysis import SpecResult, SurveyDesign
    from survey.weighting.diagnostics import summary
    from survey.weighting.settings import WeightingError

    weights = np.array([2.0, 0.0, 1.0])
    result = SpecResult(1, weights, SurveyDesign(pd.DataFrame(index=range(3)), weights=weights).diagnostics, {},
                        warnings=("raking did not converge in 1000 iterations",))
    with pytest.raises(WeightingError, match="gave 1 of 3 respondents a weight of 0 .raking did not converge"):
        summary(result)


def test_uploaded_targets_state_their_universe_and_the_page_compares_it(app, client, make_pollster, sign_in):
    slug = _owner(app, client, make_pollster, sign_in, 120)
    rows = "variable,level,share\nsex,female,0.51\nsex,male,0.49\n"
    upload = {"targets_file": (io.BytesIO(rows.encode()), "adults.csv"), "universe": "California  adults"}
    saved = client.post(f"/pollster/surveys/{slug}/weighting/targets/upload", data=upload,
                        content_type="multipart/form-data")
    assert saved.status_code == 302
    page = _text(_weighting_page(client, slug))
    assert "These targets describe California adults" in page and "not the same population" in page
    refused = client.post(f"/api/surveys/{slug}/runs", json={}, headers=_token(client))
    assert refused.status_code == 400 and "These targets describe California adults" in refused.json["error"]["message"]
