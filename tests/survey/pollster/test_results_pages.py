"""The pollster's weighting and results pages and the results API show what ``run_spec`` gives
on the run's own downloaded spec and data."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
import yaml

from analysis.spec import run_spec
from survey.extensions import db
from survey.models import TargetSet, WeightingRun
from tests.support.polls import load_default_survey, seed_poll
from tests.survey.weighting.test_runs import TARGETS

OWNER = "results@example.org"


@pytest.fixture
def signed_in(app, client, make_pollster, sign_in):
    """A pollster signed in, owning the default survey with a poll of 200 and the test targets."""
    with app.app_context():
        survey = load_default_survey()
        seed_poll(survey, 200)
        db.session.add(TargetSet(survey_id=survey.id, targets=TARGETS.to_dict()))
        db.session.commit()
        slug = survey.slug
    make_pollster(OWNER, slug)
    sign_in(client, OWNER)
    return slug


def _run_weighting(client, slug, **overrides):
    form = {"method": "rake", "calfun": "raking", "variance": "linearization", "speeder_share": "0.4",
            "exclude": ["speeder", "attention_failed", "duplicate"], "bound_low": "", "bound_high": "",
            **overrides}
    return client.post(f"/pollster/surveys/{slug}/weighting/run", data=form)


def _downloaded_result(client, slug, run_id, tmp_path, query=""):
    spec_text = client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/spec.yaml{query}").get_data(as_text=True)
    spec = yaml.safe_load(spec_text)
    data = client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/data.csv")
    (tmp_path / spec["data"]).write_bytes(data.get_data())
    return run_spec(spec, str(tmp_path))


def test_weighting_shows_diagnostics_then_results_match_the_spec(app, client, signed_in, tmp_path):
    slug = signed_in
    response = _run_weighting(client, slug)
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    with app.app_context():
        run = db.session.query(WeightingRun).one()
        run_id, n = run.id, len(run.response_ids)  # ids are not reused on PostgreSQL: not always 1
    assert f"Diagnostics of Run {run_id}" in page and "Design effect of weighting" in page and "Effective sample size" in page
    assert "Achieved versus target margins" in page and '<svg' in page and "Distribution of the final weights" in page
    assert "new complete response" not in page  # nothing arrived since: the excluded ones are not "new"

    html = client.get(f"/pollster/surveys/{slug}/results").get_data(as_text=True)
    result = _downloaded_result(client, slug, run_id, tmp_path)
    estimates = {e["id"]: e for e in result["estimates"]}
    calexit_yes = estimates["calexit=yes"]
    section = html[html.index('id="q-calexit"'):html.index('id="q-calexit_reason"')]
    row = re.search(r"For California to leave the United States</th>\s*<td>([\d.]+)%</td><td>([\d.]+)% – ([\d.]+)%</td>", section)
    assert row, section[:3000]
    assert float(row.group(1)) == pytest.approx(100 * calexit_yes["estimate"], abs=0.05)
    assert float(row.group(2)) == pytest.approx(100 * calexit_yes["ci_low"], abs=0.05)
    assert float(row.group(3)) == pytest.approx(100 * calexit_yes["ci_high"], abs=0.05)
    assert f"{n} respondents" in html
    assert "Compared with published polls" in html and "Rao–Scott" in html and "populations" in html
    assert 'role="img"' in section and "Download chart (SVG)" in section

    svg = client.get(f"/pollster/surveys/{slug}/runs/{run_id}/charts/calexit.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert f"{100 * calexit_yes['estimate']:.0f}%" in svg.get_data(as_text=True)


def test_crosstab_and_interval_choice_match_the_spec(app, client, signed_in, tmp_path):
    slug = signed_in
    _run_weighting(client, slug)
    with app.app_context():
        run_id = db.session.query(WeightingRun).one().id
    html = client.get(f"/pollster/surveys/{slug}/results?run={run_id}&ci=mean&by=sex").get_data(as_text=True)
    result = _downloaded_result(client, slug, run_id, tmp_path, "?ci=mean&by=sex")
    female = next(e for e in result["estimates"] if e["id"] == "civil_war_5yr=very_likely" and e["domain"] == "female")
    spec_estimates = yaml.safe_load(
        client.get(f"/pollster/surveys/{slug}/runs/{run_id}/files/spec.yaml?ci=mean&by=sex").get_data(as_text=True)
    )["estimates"]
    assert {e["ci"] for e in spec_estimates if e["type"] == "proportion"} == {"mean"}
    section = html[html.index('id="q-civil_war_5yr"'):html.index('id="q-jefferson"')]
    assert f"{100 * female['ci_low']:.1f}% – {100 * female['ci_high']:.1f}%" in section
    assert client.get(f"/pollster/surveys/{slug}/results?by=nonsense").status_code == 400
    assert client.get(f"/pollster/surveys/{slug}/results?ci=wald").status_code == 400


def test_api_results_equal_the_spec(app, client, signed_in, tmp_path):
    slug = signed_in
    _run_weighting(client, slug)
    page = client.post("/pollster/tokens", data={"name": "results"}).get_data(as_text=True)
    token = re.search(r"svy_[\w-]+", page).group()
    headers = {"Authorization": f"Bearer {token}"}
    with app.app_context():
        run_id = db.session.scalar(sa.select(WeightingRun.id))
    assert client.post(f"/api/surveys/{slug}/runs/{run_id}/publish", headers=headers).json["published"] is True
    body = client.get(f"/api/surveys/{slug}/results?ci=logit", headers=headers).json
    result = _downloaded_result(client, slug, body["run"]["id"], tmp_path)
    expected = {e["id"]: e for e in result["estimates"]}
    assert body["degf"] == result["degf"]
    assert len(body["rows"]) == len(expected)
    for row in body["rows"]:
        reference = expected[row["estimate_id"]]
        assert row["estimate"] == pytest.approx(reference["estimate"], rel=1e-12)
        # a weighting variable's share is its target: the zero-width interval is not shown
        uncertainty = ("se", "ci_low", "ci_high", "effective_n")
        if row["weighted_to_target"]:
            assert all(row[key] is None for key in uncertainty) and reference["se"] < 1e-9
        else:
            for key in uncertainty[:3]:
                assert row[key] is None if reference[key] is None else row[key] == pytest.approx(reference[key], rel=1e-12)
        assert row["unweighted_n"] > 0
    assert {row["question"] for row in body["rows"] if row["weighted_to_target"]} == {"sex", "age_group", "region", "education"}
    likely = next(row for row in body["rows"] if row["question"] == "civil_war_5yr" and row["answer"] == "likely")
    assert likely["net"] and likely["answer_label"] == "Very or somewhat likely" and likely["margin_of_error"] > 0
    rasmussen = next(c for c in body["comparisons"] if c["figure"]["id"] == "rasmussen_civil_war_2024")
    very = next(t for t in rasmussen["tests"] if t["answer"] == "very_likely")
    ours = expected["civil_war_5yr=very_likely"]
    assert very["published"] == 0.16 and very["estimate"] == pytest.approx(ours["estimate"], rel=1e-12)
    assert very["statistic"] == pytest.approx((ours["estimate"] - 0.16) / ours["se"], rel=1e-9)
    assert any(t["answer"] == "likely" and t["label"] == "Very or somewhat likely" and t["published"] == 0.41
               for t in rasmussen["tests"])  # the published "very or somewhat likely" is the questionnaire's net
    assert 0 <= rasmussen["goodness_of_fit"]["p_value"] <= 1 and rasmussen["goodness_of_fit"]["df"] > 0
    assert "populations" in rasmussen["caveat"].lower()
    runs = client.get(f"/api/surveys/{slug}/runs", headers=headers).json["runs"]
    assert runs[0]["diagnostics"]["design_effect"] > 1
    spec = client.get(f"/api/surveys/{slug}/runs/{runs[0]['id']}/files/spec.yaml", headers=headers)
    assert spec.status_code == 200 and yaml.safe_load(spec.get_data(as_text=True))["weighting"]["method"] == "rake"
    document = client.get("/api/openapi.json").json
    assert "/api/surveys/{slug}/results" in document["paths"]
    assert "/api/surveys/{slug}/runs/{run_id}/files/{name}" in document["paths"]


def test_bad_targets_show_the_analysis_message_and_are_not_saved(app, client, signed_in):
    slug = signed_in
    form = {f"share:sex:{level}": share for level, share in {"female": "0.47", "male": "0.5"}.items()}
    response = client.post(f"/pollster/surveys/{slug}/weighting/targets", data=form)
    assert response.status_code == 400
    assert "target shares for `sex` sum to 0.97, not 1" in response.get_data(as_text=True)
    upload = client.post(
        f"/pollster/surveys/{slug}/weighting/targets/upload",
        data={"targets_file": (__import__("io").BytesIO(b"variable,level,share\nregion,north,0.5\nregion,south,0.5\n"), "t.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 400
    assert "`region` = `bay_area` has" in upload.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(TargetSet).count() == 1

    good = {f"share:sex:{level}": share for level, share in {"female": "50.5%", "male": "49.5%"}.items()}
    assert client.post(f"/pollster/surveys/{slug}/weighting/targets", data=good).status_code == 302
    page = client.get(f"/pollster/surveys/{slug}/weighting").get_data(as_text=True)
    assert 'name="share:sex:female" value="0.505"' in page and "share:region" not in page


def test_results_wait_for_a_weighting_run(client, signed_in):
    page = client.get(f"/pollster/surveys/{signed_in}/results").get_data(as_text=True)
    assert "No weighting yet" in page
