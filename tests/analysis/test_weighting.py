"""Weighting: margins reached, properties that must hold, and bad input that must be refused."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from analysis import (
    METHODS, ConvergenceWarning, NegativeWeightsWarning, SpecError, SurveyDesign, WeightingError, calibrate, mean,
    kish_design_effect, kish_effective_n, poststratify, proportion, rake, trim, validate_spec, weighting_diagnostics,
)

from .conftest import MARGINS

PROPERTY_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def samples(draw, variables=2):
    """A small sample with positive weights, every combination of levels present (so raking has
    an exact solution), and target shares for every level."""
    sizes = [draw(st.integers(min_value=2, max_value=4)) for _ in range(variables)]
    extra = draw(st.integers(min_value=0, max_value=80))
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    full = np.stack(np.meshgrid(*[np.arange(k) for k in sizes], indexing="ij"), -1).reshape(-1, variables)
    codes = np.vstack([full, np.column_stack([rng.integers(0, k, extra) for k in sizes])])
    frame, margins = {}, {}
    for v, k in enumerate(sizes):
        levels = np.array([f"l{j}" for j in range(k)])
        frame[f"v{v}"] = levels[codes[:, v]]
        shares = rng.uniform(0.2, 1.0, k)
        margins[f"v{v}"] = dict(zip(levels.tolist(), shares / shares.sum()))
    n = len(codes)
    frame["w"] = rng.uniform(0.5, 2.0, n)
    frame["y"] = rng.integers(0, 2, n)
    return pd.DataFrame(frame), margins


@PROPERTY_SETTINGS
@given(samples(variables=3))
def test_raked_weights_hit_every_margin(sample):
    frame, margins = sample
    raked = rake(SurveyDesign(frame, weights="w"), margins, population=1000.0)
    for variable, shares in margins.items():
        achieved = pd.Series(raked.weights).groupby(frame[variable].to_numpy()).sum() / 1000.0
        assert_allclose(achieved[list(shares)].to_numpy(), list(shares.values()), rtol=1e-8)


@PROPERTY_SETTINGS
@given(samples(), st.floats(min_value=1e-3, max_value=1e4))
def test_estimates_do_not_change_when_weights_are_scaled(sample, factor):
    frame, margins = sample
    base = SurveyDesign(frame, weights="w")
    scaled = SurveyDesign(frame, weights=frame["w"] * factor)
    for design_a, design_b in ((base, scaled), (rake(base, margins), rake(scaled, margins))):
        a, b = (proportion(d, "y", "1", by="v0", ci="logit") for d in (design_a, design_b))
        for x, y in zip(a, b):
            assert_allclose([x.estimate, x.se, x.ci_low, x.ci_high], [y.estimate, y.se, y.ci_low, y.ci_high],
                            rtol=1e-9, atol=1e-12)


@PROPERTY_SETTINGS
@given(samples(variables=1))
def test_poststratification_equals_raking_on_one_variable(sample):
    frame, margins = sample
    design = SurveyDesign(frame, weights="w")
    raked = rake(design, margins, population=500.0)
    post = poststratify(design, "v0", margins["v0"], population=500.0)
    assert_allclose(post.weights, raked.weights, rtol=1e-9)
    a, b = mean(raked, "y"), mean(post, "y")
    assert_allclose([a.estimate, a.se], [b.estimate, b.se], rtol=1e-8, atol=1e-12)


def test_replicates_are_raked_again(clustered):
    replicated = rake(clustered.with_replicates("jkn"), MARGINS, population=30_000_000)
    frame = replicated.replicate_weights_frame()
    assert frame.shape == (clustered.n, clustered.n_units)
    female = (clustered.data["sex"] == "female").to_numpy()
    assert_allclose(frame.sum().to_numpy(), 30_000_000, rtol=1e-8)
    assert_allclose(frame[female].sum().to_numpy(), 0.505 * 30_000_000, rtol=1e-8)
    # a replicate design made after weighting replays the weighting on its replicates
    late = rake(clustered, MARGINS, population=30_000_000).with_replicates("jkn")
    assert_allclose(late.replicate_weights, replicated.replicate_weights, rtol=1e-9)


def test_bootstrap_is_reproducible_from_its_seed(clustered):
    one, two, other = (clustered.with_replicates("bootstrap", replicates=30, seed=s) for s in (7, 7, 8))
    assert_allclose(one.replicate_weights, two.replicate_weights)
    assert not np.allclose(one.replicate_weights, other.replicate_weights)
    # Rao-Wu: n_h - 1 draws in each stratum, rescaled by n_h / (n_h - 1): unit factors sum to n_h
    factors = one.replicates.factors
    per_stratum = pd.DataFrame(factors).groupby(one.unit_stratum).sum()
    assert_allclose(per_stratum.to_numpy(), np.repeat(one.units_per_stratum[:, None], 30, axis=1))
    se_boot = proportion(one, "calexit", "yes").se
    se_lin = proportion(clustered, "calexit", "yes").se
    assert 0.6 < se_boot / se_lin < 1.6


def test_diagnostics_describe_the_weights(raked):
    diagnostics = weighting_diagnostics(raked)
    w = raked.weights
    assert diagnostics is not None and raked.diagnostics == diagnostics
    assert_allclose(diagnostics.design_effect, len(w) * np.sum(w**2) / np.sum(w) ** 2)
    assert_allclose(diagnostics.effective_n, len(w) / diagnostics.design_effect)
    assert_allclose(diagnostics.weighting_efficiency, 1 / diagnostics.design_effect)
    assert diagnostics.converged and diagnostics.iterations > 1
    assert diagnostics.weight_min == w.min() and diagnostics.weight_max == w.max()
    margins = diagnostics.margins_frame()
    assert len(margins) == sum(len(v) for v in MARGINS.values())
    assert_allclose(margins["achieved_share"], margins["target_share"], rtol=1e-8)
    table = diagnostics.to_frame().set_index("statistic")["value"]
    assert table["effective_n"] == diagnostics.effective_n


def test_one_registry_names_the_methods_and_spec_validation_reads_it(clustered):
    assert set(METHODS) == {"rake", "poststratify", "calibrate"}
    assert METHODS["rake"].function is rake and METHODS["poststratify"].label == "Post-stratification"
    by_registry = METHODS["calibrate"].function(clustered, MARGINS, calfun="raking", population=3e7)
    assert_allclose(by_registry.weights, rake(clustered, MARGINS, population=3e7).weights, rtol=1e-8)
    with pytest.raises(SpecError, match="`method: weightit` is not one of rake, poststratify, calibrate"):
        validate_spec({"data": "x.csv", "weighting": {"method": "weightit"}})
    with pytest.raises(SpecError, match=r"unknown key `calfun` in weighting \(rake\)"):
        validate_spec({"data": "x.csv", "weighting": {"method": "rake", "margins": {}, "calfun": "linear"}})


def test_trim_clips_and_spreads_once(raked):
    low, high = np.quantile(raked.weights, [0.05, 0.95])
    trimmed = trim(raked, low, high)
    assert_allclose(trimmed.weights.sum(), raked.weights.sum())
    outside = (raked.weights < low) | (raked.weights > high)
    spread = (raked.weights - np.clip(raked.weights, low, high)).sum() / (~outside).sum()
    assert_allclose(trimmed.weights[outside], np.clip(raked.weights, low, high)[outside])
    assert_allclose(trimmed.weights[~outside], raked.weights[~outside] + spread)
    assert trimmed.steps[-1].method == "trim" and len(trimmed.steps) == 2


def test_a_rake_that_cannot_converge_is_an_error_naming_the_margin():
    # a and b always agree, so no weights give a 50/50 and b 30/70 (R: "Calibration failed")
    frame = pd.DataFrame({"a": ["x"] * 10 + ["y"] * 10, "b": ["p"] * 10 + ["q"] * 10})
    with pytest.raises(WeightingError, match=r"raking cannot meet every target: after \d+ iterations `[ab]` = "):
        rake(SurveyDesign(frame), {"a": {"x": 0.5, "y": 0.5}, "b": {"p": 0.3, "q": 0.7}}, max_iter=200)


# --- bad input ------------------------------------------------------------------------
def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "region": ["north", "south", "south", "east", "north", "south"],
        "sex": ["f", "m", "f", "m", "f", "m"],
        "w": [1.0, 2.0, 1.0, 1.5, 1.0, 0.5],
    })


SEX = {"f": 0.5, "m": 0.5}


def test_shares_that_do_not_sum_to_one_are_refused():
    design = SurveyDesign(_frame(), weights="w")
    with pytest.raises(ValueError, match=r"target shares for `region` sum to 0\.97, not 1"):
        rake(design, {"region": {"north": 0.3, "south": 0.37, "east": 0.3}})


def test_a_target_level_without_respondents_is_named():
    design = SurveyDesign(_frame(), weights="w")
    with pytest.raises(ValueError, match="target level `west` of `region` has no respondents"):
        rake(design, {"region": {"north": 0.3, "south": 0.3, "east": 0.2, "west": 0.2}, "sex": SEX})


def test_a_respondent_level_without_target_is_named():
    design = SurveyDesign(_frame(), weights="w")
    with pytest.raises(ValueError, match="`region` = `east` has 1 respondents but no target"):
        calibrate(design, {"region": {"north": 0.5, "south": 0.5}})


def test_missing_values_in_a_weighting_variable_are_refused():
    frame = _frame()
    frame.loc[2, "sex"] = None
    with pytest.raises(ValueError, match="weighting variable `sex` has 1 missing values"):
        rake(SurveyDesign(frame, weights="w"), {"sex": SEX})


@pytest.mark.parametrize("bad", [-1.0, np.nan])
def test_negative_or_missing_design_weights_are_refused(bad):
    frame = _frame()
    frame.loc[3, "w"] = bad
    with pytest.raises(ValueError, match=r"design weights `w` must be numbers of at least 0; 1 are not \(rows 3\)"):
        SurveyDesign(frame, weights="w")


def test_infeasible_calibration_bounds_are_refused():
    design = SurveyDesign(_frame(), weights="w")
    with pytest.raises(ValueError, match=r"calibration bounds \[0.9, 1.1\] are infeasible for `sex` = `f`"):
        calibrate(design, {"sex": {"f": 0.8, "m": 0.2}}, calfun="raking", bounds=(0.9, 1.1))


def test_jointly_infeasible_bounds_are_refused():
    # each level alone is reachable within [0.5, 1.5], but not both margins at once
    frame = pd.DataFrame({"a": ["x"] * 45 + ["x"] * 5 + ["y"] * 5 + ["y"] * 45,
                          "b": ["p"] * 45 + ["q"] * 5 + ["p"] * 5 + ["q"] * 45})
    with pytest.raises(ValueError, match=r"cannot meet every target with g-weights within bounds \[0.5, 1.5\]"):
        calibrate(SurveyDesign(frame), {"a": {"x": 0.5, "y": 0.5}, "b": {"p": 0.25, "q": 0.75}},
                  calfun="raking", bounds=(0.5, 1.5), max_iter=50)


def test_negative_weights_from_linear_calibration_warn_with_their_count():
    frame = pd.DataFrame({"a": ["x"] * 45 + ["x"] * 5 + ["y"] * 5 + ["y"] * 45,
                          "b": ["p"] * 45 + ["q"] * 5 + ["p"] * 5 + ["q"] * 45})
    with pytest.warns(NegativeWeightsWarning, match=r"linear calibration gave (\d+) respondents a negative"):
        result = calibrate(SurveyDesign(frame), {"a": {"x": 0.5, "y": 0.5}, "b": {"p": 0.05, "q": 0.95}})
    assert (result.weights <= 0).sum() > 0
    assert_allclose(result.weights.sum(), 100)


def test_poststratification_cells_must_match_the_data():
    design = SurveyDesign(_frame(), weights="w")
    cells = {"north|f": 0.3, "south|m": 0.3, "south|f": 0.2, "east|m": 0.2}
    assert_allclose(poststratify(design, ["region", "sex"], cells).weights.sum(), design.weights.sum())
    with pytest.raises(ValueError, match="target cell `east|f` of region × sex has no respondents"):
        poststratify(design, ["region", "sex"], {**cells, "east|m": 0.1, "east|f": 0.1})
    with pytest.raises(ValueError, match="cell `east|m` of region × sex has 1 respondents but no target"):
        poststratify(design, ["region", "sex"], {"north|f": 0.3, "south|m": 0.3, "south|f": 0.2, "east|f": 0.2})
    with pytest.raises(ValueError, match="`region` = `east` has 1 respondents but no target"):
        poststratify(design, ["region", "sex"], {"north|f": 0.3, "south|m": 0.4, "south|f": 0.3})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: calibrate(d, {"sex": SEX}, calfun="probit"), "calfun='probit' is not one of"),
        (lambda d: calibrate(d, {"sex": SEX}, calfun="logit"), "calfun='logit' needs finite bounds"),
        (lambda d: calibrate(d, {"sex": SEX}, bounds=(1.2, 3)), r"bounds=\[1.2, 3\] must be \[lower, upper\]"),
        (lambda d: trim(d, 2.0, 1.0), "lower must be below upper"),
        (lambda d: rake(d, {"sex": SEX}, tol=0), "tol=0 must be positive"),
        (lambda d: rake(d, {"sex": {"f": 0.0, "m": 1.0}}), "target share for `sex` = `f` is 0"),
        (lambda d: rake(d, {"colour": SEX}), "weighting variable `colour` is not a column"),
    ],
)
def test_bad_arguments_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call(SurveyDesign(_frame(), weights="w"))


def test_warnings_do_not_leak_from_a_clean_rake(clustered):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rake(clustered, MARGINS)


def test_a_jackknife_over_too_many_units_is_refused(monkeypatch):
    monkeypatch.setattr("analysis.design.MAX_JACKKNIFE_UNITS", 5)
    with pytest.raises(ValueError, match="jk1 would make one replicate per first-stage unit \\(6\\)"):
        SurveyDesign(_frame(), weights="w").with_replicates("jk1")


def _simulated_panel_and_shipped_targets():
    import importlib.util
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("bench_rake_panel", root / "bench" / "rake.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    targets = yaml.safe_load((root / "survey" / "data" / "california_adult_targets.yaml").read_text())
    margins = {v: dict(targets["variables"][v]["shares"]) for v in ("age_group", "sex", "race", "education", "region")}
    return bench.synthetic_respondents(150, seed=3), margins, float(targets["population"])


@pytest.mark.parametrize("calfun", ["raking", "linear", "logit"])
def test_wider_bounds_are_never_harder_than_narrower_ones(calfun):
    # reported: on this panel bounded raking met the targets within [0.3, 3.5] but failed within [0.25, 4]
    panel, margins, population = _simulated_panel_and_shipped_targets()
    for bounds in [(0.3, 3.5), (0.25, 4), (0.2, 5), (0.1, 10)]:
        w = calibrate(SurveyDesign(panel), margins, calfun=calfun, bounds=bounds, population=population, tol=1e-10)
        g = w.diagnostics
        assert g.converged and bounds[0] - 1e-9 <= g.g_weight_min and g.g_weight_max <= bounds[1] + 1e-9
        assert max(abs(m.achieved_share - m.target_share) for m in g.margins) < 1e-8


def test_replicates_that_cannot_converge_are_counted_not_searched_for_in_warnings():
    # the single `z` row: the JK1 replicate that deletes it has nobody left to carry z's share
    frame = pd.DataFrame({"g": ["x"] * 12 + ["y"] * 7 + ["z"], "v": np.arange(20.0)})
    design = SurveyDesign(frame).with_replicates("jk1")
    with pytest.warns(ConvergenceWarning, match="1 replicates did not converge"):
        raked = rake(design, {"g": {"x": 0.5, "y": 0.4, "z": 0.1}}, max_iter=50)
    diagnostics = raked.diagnostics
    assert not diagnostics.converged and diagnostics.unconverged_replicates == 1
    assert rake(SurveyDesign(frame), {"g": {"x": 0.5, "y": 0.4, "z": 0.1}}).diagnostics.converged


def test_replicates_made_after_weighting_recount_degf_as_before(clustered):
    cells = {"female": 0.505, "male": 0.495}
    early = poststratify(clustered.with_replicates("jkn"), "sex", cells)
    late = poststratify(clustered, "sex", cells).with_replicates("jkn")
    assert early.degf == late.degf != clustered.with_replicates("jkn").degf
    assert_allclose(late.replicate_weights, early.replicate_weights)


def test_kish_effective_n_and_design_effect_are_defined_once():
    assert kish_effective_n(np.ones(10)) == 10 and kish_design_effect(np.ones(10)) == 1
    w = np.array([1.0, 3.0])
    assert_allclose([kish_effective_n(w), kish_design_effect(w)], [16 / 10, 2 / 1.6])
