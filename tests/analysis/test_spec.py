"""Spec files: validation names the key at fault; the command line reports errors plainly."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import Estimate, SpecError, SpecResult, WeightingDiagnostics, load_spec, run_spec, validate_spec
from analysis.__main__ import main
from analysis.spec import read_data, run

from .conftest import MARGINS, OWN_REFERENCE
from .test_reference_cases import SHARED

BASE = {"data": "poll_b.csv", "design": {"weights": "base_weight"},
        "estimates": [{"id": "yes", "variable": "calexit", "type": "proportion", "categories": ["yes"]}]}


def _spec(**changes) -> dict:
    spec = json.loads(json.dumps(BASE))
    spec.update(changes)
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_spec(colour="red"), "unknown key `colour` in the spec"),
        (_spec(design={"weights": "w", "strat": "x"}), "unknown key `strat` in design"),
        (_spec(weighting={"method": "rake", "margins": MARGINS, "popultion": 1}), "unknown key `popultion` in weighting"),
        (_spec(variance={"method": "jk2"}), "`method: jk2` is not one of"),
        (_spec(estimates=[{"id": "a", "variable": "x", "type": "proportion", "categories": ["y"], "cl": 1}]),
         "unknown key `cl` in estimate `a`"),
        (_spec(estimates=[{"id": "a", "variable": "x", "type": "proportion"}]), "estimate `a` needs `categories`"),
        (_spec(estimates=[{"id": "a", "variable": "x", "type": "median"}]), "`type: median` is not one of"),
        (_spec(models=[{"id": "m", "family": "binomial", "outcome": "x", "predictors": ["p"]}]),
         "model `m` needs `categories`"),
        (_spec(weighting={"method": "poststratify", "by": ["sex"]}), "weighting \\(poststratify\\) needs `cells`"),
        (_spec(weighting={"method": "rake", "margins": MARGINS, "bounds": 3}), "`bounds` must be a list"),
        (_spec(variance={"method": "jk1", "seed": 3}), "`seed` apply to method `bootstrap` only"),
        ({"design": {}}, "the spec needs `data`"),
        (_spec(estimates=[{"id": "a", "variable": "x", "type": "total", "ci": "logit"}]),
         "estimate `a`: `ci` does not apply to type `total`"),
        (_spec(estimates=[{"id": "a", "type": "ratio", "numerator": "x"}]), "estimate `a` needs `denominator`"),
        (_spec(estimates=[{"id": "a", "variable": "x", "type": "quantile", "quantile": 50}]),
         "`quantile: 50` must be a probability between 0 and 1"),
        (_spec(tests=[{"id": "t", "type": "anova", "variable": "x"}]), "test `t`: `type: anova` is not one of"),
        (_spec(tests=[{"id": "t", "type": "pairwise", "variable": "x", "by": ["a", "b"]}]),
         "test `t`: `by` must name one variable"),
        (_spec(tests=[{"id": "t", "type": "against", "variable": "x", "value": "41%"}]), "`value: 41%` must be a number"),
        (_spec(tests=[{"id": "t", "type": "independence", "row": "x"}]), "test `t` needs `column`"),
        (_spec(tests=[{"id": "t", "type": "independence", "row": "x", "column": "y"}] * 2), "test ids must be unique"),
    ],
)
def test_spec_errors_name_the_key(spec, message):
    with pytest.raises(SpecError, match=message):
        validate_spec(spec)


def test_bootstrap_spec_is_reproducible():
    spec = _spec(variance={"method": "bootstrap", "replicates": 20, "seed": 11},
                 weighting={"method": "rake", "population": 1000, "margins": MARGINS})
    one, two = run_spec(spec, OWN_REFERENCE), run_spec(spec, OWN_REFERENCE)
    assert one == two and one["estimates"][0]["se"] > 0
    assert one["degf"] == 19  # rank of 20 bootstrap replicates minus one


def test_command_line_reports_a_bad_spec(tmp_path: Path, caplog):
    spec = tmp_path / "bad.yaml"
    spec.write_text("data: poll.csv\nweighting: {method: rake, margins: {}, tolerance: 1}\n", encoding="utf-8")
    assert main(["run", str(spec), "--out", str(tmp_path / "out.json")]) == 1
    assert "unknown key `tolerance` in weighting" in caplog.text
    assert not (tmp_path / "out.json").exists()


def test_bounded_rake_is_raking_calibration():
    weighting = {"population": 1000, "margins": MARGINS, "bounds": [0.3, 3]}
    raked = run_spec(_spec(weighting={"method": "rake", **weighting}), OWN_REFERENCE)
    calibrated = run_spec(_spec(weighting={"method": "calibrate", "calfun": "raking", **weighting}), OWN_REFERENCE)
    assert raked == calibrated
    assert max(raked["weights"]) / min(raked["weights"]) > 1


@pytest.mark.parametrize("case", ["a13_tests_rake_linearization", "a8_rake_jk1_models"])
def test_a_result_survives_its_own_serialisation(case):
    """A cache shared between processes stores ``SpecResult.to_dict()`` as JSON: read back, it is
    the same result, field for field and bit for bit, objects and all."""
    if not (SHARED / f"{case}.yaml").exists():
        pytest.skip(f"the shared reference cases are not beside this checkout ({SHARED})")
    spec = load_spec(SHARED / f"{case}.yaml")
    result = run(spec, read_data(SHARED / spec["data"]))
    again = SpecResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert json.dumps(again.contract()) == json.dumps(result.contract()) == json.dumps(run_spec(spec, SHARED))
    assert json.dumps(again.to_dict()) == json.dumps(result.to_dict())
    assert isinstance(again.diagnostics, WeightingDiagnostics) and again.diagnostics.margins
    assert all(isinstance(e, Estimate) for rows in again.estimates.values() for e in rows)
    assert set(again.tests) | set(again.models) == {t["id"] for t in spec["tests"]} | {m["id"] for m in spec["models"]}
