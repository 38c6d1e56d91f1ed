"""Weighting runs: stored with everything needed to reproduce them, checked by the analysis
module's own messages, cached until their inputs change."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import pytest
import sqlalchemy as sa
import yaml

import survey.weighting.cache as analysis_cache
import survey.weighting.runs as weighting_runs
from analysis.spec import run_spec
from survey.extensions import db
from survey.models import Answer, Response, WeightingRun
from survey.responses.dataset import load_responses
from survey.responses.quality import ExclusionRules
from survey.responses.simulate import AGE_SHARES, FEMALE_SHARE, REGION_SHARES
from survey.weighting.runs import check_targets, compute, create_run
from survey.weighting.settings import WeightingError, WeightingSettings
from survey.weighting.spec import spec_yaml
from survey.weighting.targets import Targets
from tests.support.polls import load_default_survey, seed_poll

TARGETS = Targets(
    margins={
        "sex": {"female": FEMALE_SHARE, "male": 1 - FEMALE_SHARE},
        "age_group": dict(AGE_SHARES),
        "region": dict(REGION_SHARES),
        "education": {"hs_or_less": 0.37, "some_college": 0.29, "ba_plus": 0.34},
    },
    population=30_000_000,
    sources={"sex": "test figures"},
)


@pytest.fixture
def poll(app):
    with app.app_context():
        survey = load_default_survey()
        seed_poll(survey, 240)
        yield survey


def test_a_run_stores_its_inputs_and_reruns_from_its_own_spec(app, poll, tmp_path):
    rules = ExclusionRules()
    run = create_run(poll, WeightingSettings(TARGETS), rules, None)
    db.session.commit()

    included = load_responses(poll, rules).included_ids
    assert run.response_ids == included and len(included) < 240  # speeders and inattentive left out
    assert run.exclusion_rules == rules.to_dict()
    diagnostics = run.diagnostics
    assert diagnostics["n"] == len(included)
    for margin in diagnostics["margins"]:
        assert margin["achieved"] == pytest.approx(margin["target"], abs=1e-6)
    education = {m["level"]: m["unweighted"] for m in diagnostics["margins"] if m["variable"] == "education"}
    assert education["ba_plus"] > 0.45  # the panel is skewed; the weights have work to do
    assert diagnostics["design_effect"] > 1.1
    assert diagnostics["effective_n"] == pytest.approx(diagnostics["n"] / diagnostics["design_effect"])
    assert diagnostics["converged"]

    computed = compute(run)
    assert computed.data_matches
    assert hashlib.sha256(computed.csv_bytes).hexdigest() == run.data_hash
    # what a pollster downloads reruns to the very numbers the site computed from the frame
    for computed in (computed, compute(run, interval="beta", by="party")):
        spec = yaml.safe_load(spec_yaml(computed.spec, "header"))
        (tmp_path / spec["data"]).write_bytes(computed.csv_bytes)
        again = run_spec(spec, str(tmp_path))
        assert sum(again["weights"]) == pytest.approx(30_000_000)
        assert len(again["estimates"]) > 50
        assert json.dumps(again) == json.dumps(computed.result.contract())


def test_the_run_keeps_its_respondents_when_more_arrive(app, poll):
    run = create_run(poll, WeightingSettings(TARGETS), ExclusionRules(), None)
    db.session.commit()
    before = compute(run).result.weights.tolist()
    seed_poll(poll, 20, seed=99)
    assert weighting_runs.new_responses_since(run) > 0
    assert compute(run).result.weights.tolist() == before
    newer = create_run(poll, WeightingSettings(TARGETS), ExclusionRules(), None)
    assert len(newer.response_ids) > len(run.response_ids)


BAD_TARGETS = [
    ({"sex": {"female": 0.47, "male": 0.5}}, "target shares for `sex` sum to 0.97, not 1"),
    ({"sex": {"female": 0.5, "male": 0.5, "other": 0.0}}, "target share for `sex` = `other` is 0"),
    ({"sex": {"female": 1.0}}, "`sex` = `male` has"),
    ({"religion": {"none": 1.0}}, "no question of this survey measures religion"),
]


def test_bad_targets_get_the_analysis_message(app, poll):
    for margins, message in BAD_TARGETS:
        with pytest.raises(WeightingError, match=re.escape(message)):
            check_targets(poll, Targets(margins=margins))


def test_targets_are_checked_before_any_response(app):
    with app.app_context():
        survey = load_default_survey()
        check_targets(survey, TARGETS)
        with pytest.raises(WeightingError, match="sum to 0.97"):
            check_targets(survey, Targets(margins={"sex": {"female": 0.47, "male": 0.5}}))


def test_methods_bounds_and_trimming(app, poll):
    rules = ExclusionRules()
    post = create_run(poll, WeightingSettings(TARGETS, method="poststratify", poststratify_by="age_group"), rules, None)
    achieved = {m["level"]: m["achieved"] for m in post.diagnostics["margins"]}
    assert achieved == pytest.approx(AGE_SHARES, abs=1e-9)

    bounded = create_run(poll, WeightingSettings(TARGETS, method="calibrate", calfun="raking", bounds=(0.3, 3.5)), rules, None)
    inputs = 30_000_000 / bounded.diagnostics["n"]
    assert bounded.diagnostics["min_weight"] >= 0.3 * inputs * (1 - 1e-6)
    assert bounded.diagnostics["max_weight"] <= 3.5 * inputs * (1 + 1e-6)

    raked = create_run(poll, WeightingSettings(TARGETS), rules, None).diagnostics
    trimmed = create_run(poll, WeightingSettings(TARGETS, trim=(0.5, 2.0)), rules, None).diagnostics
    # clipped at twice the mean weight, the excess spread over the others (R's trimWeights)
    assert trimmed["max_weight"] < raked["max_weight"] / 2
    assert trimmed["min_weight"] > raked["min_weight"]
    assert trimmed["design_effect"] < raked["design_effect"]
    assert trimmed["sum_of_weights"] == pytest.approx(30_000_000)

    with pytest.raises(WeightingError, match="post-stratification needs one variable"):
        WeightingSettings(TARGETS, method="poststratify")


def test_results_are_cached_until_the_data_change(app, poll, monkeypatch):
    run = create_run(poll, WeightingSettings(TARGETS), ExclusionRules(), None)
    db.session.commit()
    monkeypatch.setattr(analysis_cache, "_local_cache", analysis_cache._LRU())  # nothing from earlier tests
    calls = []
    real = analysis_cache.run
    monkeypatch.setattr(analysis_cache, "run", lambda spec, frame: calls.append(1) or real(spec, frame))
    compute(run)
    compute(run)
    assert len(calls) == 1
    compute(run, interval="beta")  # another spec: computed once more
    assert len(calls) == 2
    answer = db.session.scalar(
        sa.select(Answer).where(Answer.response_id == run.response_ids[0], Answer.question_code == "calexit")
    )
    answer.value = "no" if answer.value != "no" else "yes"
    db.session.commit()
    changed = compute(run)
    assert len(calls) == 3 and not changed.data_matches


@pytest.mark.parametrize("kept", [True, False], ids=["frame hash", "run made before frame hashes"])
def test_a_changed_response_is_noticed(app, poll, kept):
    """The results page's check: by the frame's hash without writing the data file, or, for a
    run without one, by the data file's SHA-256; a changed answer is noticed either way."""
    run = create_run(poll, WeightingSettings(TARGETS), ExclusionRules(), None)
    assert run.frame_hash == weighting_runs.frame_hash(compute(run).frame)
    if not kept:
        run.frame_hash = None
    db.session.commit()
    unchanged = compute(run)
    assert unchanged.data_matches
    assert ("csv_bytes" in unchanged.__dict__) is not kept  # the data file written only without a frame hash
    answer = db.session.scalar(
        sa.select(Answer).where(Answer.response_id == run.response_ids[-1], Answer.question_code == "region"))
    answer.value = "bay_area" if answer.value != "bay_area" else "los_angeles"
    db.session.commit()
    changed = compute(run)
    assert not changed.data_matches
    assert weighting_runs.frame_hash(changed.frame) != weighting_runs.frame_hash(unchanged.frame)


def test_redis_holds_the_cache_when_configured(app, poll, monkeypatch):
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    app.config["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    run = create_run(poll, WeightingSettings(TARGETS), ExclusionRules(), None)
    computed = compute(run)
    key = analysis_cache.cache_key(computed.spec, computed.frame)
    try:
        assert client.exists(key)
        from_redis = compute(run).result  # read back through SpecResult.from_dict
        assert from_redis is not computed.result
        assert json.dumps(from_redis.contract()) == json.dumps(computed.result.contract())
        assert from_redis.estimates.keys() == computed.result.estimates.keys()
    finally:
        client.delete(key)


def test_stored_run_round_trips_settings(app, poll):
    settings = WeightingSettings(TARGETS, method="calibrate", calfun="logit", bounds=(0.3, 3.5), trim=(0.2, 5.0))
    run = create_run(poll, settings, ExclusionRules(speeder_share=0.3), None)
    db.session.commit()
    stored = db.session.get(WeightingRun, run.id)
    assert WeightingSettings.from_dict(stored.settings) == settings
    assert ExclusionRules.from_dict(stored.exclusion_rules).speeder_share == 0.3
    assert db.session.get(Response, stored.response_ids[0]).status == "complete"


@pytest.mark.parametrize("converged", [False, True])
def test_a_run_is_unconverged_exactly_when_the_analysis_diagnostics_say_so(app, poll, monkeypatch, converged):
    """The design's diagnostics decide, not the warnings: a warning that mentions convergence changes nothing."""
    real = analysis_cache.run

    def analysis(spec, frame):
        result = real(spec, frame)
        diagnostics = dataclasses.replace(result.diagnostics, converged=converged)
        return dataclasses.replace(result, diagnostics=diagnostics, warnings=("raking did not converge in 50 iterations",))

    monkeypatch.setattr(analysis_cache, "_local_cache", analysis_cache._LRU())
    monkeypatch.setattr(analysis_cache, "run", analysis)
    run = create_run(poll, WeightingSettings(TARGETS), ExclusionRules(), None)
    assert run.diagnostics["converged"] is converged
    assert run.diagnostics["warnings"] == ["raking did not converge in 50 iterations"]
