"""Analysis spec files: parse, validate and run them (``python -m analysis run SPEC.yaml``).

The format is the one of ``shared/reference/analysis/README.md``. Validation happens before
any data is read, and every problem names the key (and the estimate or model) at fault.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import pandas as pd
import yaml

from analysis._records import from_plain, to_plain
from analysis._text import r_text
from analysis.design import REPLICATE_METHODS, SurveyDesign
from analysis.diagnostics import MarginCheck, WeightingDiagnostics
from analysis.estimates import MEAN_CI, PROPORTION_CI, Estimate, mean, proportion, quantile, ratio, total
from analysis.exceptions import SpecError, WeightingError
from analysis.inference import (
    GoodnessOfFit, IndependenceTest, PairDifference, PairwiseTests, WaldTest, goodness_of_fit, independence, pairwise,
    test_against,
)
from analysis.models import FAMILIES, Coefficient, ModelResult, svyglm
from analysis.weighting import CALFUNS, METHODS, calibrate, poststratify, rake, trim

TOP_KEYS = {"data", "design", "weighting", "variance", "estimates", "tests", "models"}
DESIGN_KEYS = {"weights", "strata", "cluster", "lonely_psu"}
VARIANCE_KEYS = {"method", "replicates", "seed"}
ESTIMATE_KEYS = {"id", "variable", "type", "categories", "ci", "level", "by", "numerator", "denominator", "quantile"}
MODEL_KEYS = {"id", "family", "outcome", "categories", "predictors", "reference", "level"}
VARIANCE_METHODS = ("linearization",) + REPLICATE_METHODS
ESTIMATE_TYPES = ("proportion", "mean", "total", "ratio", "quantile")
#: per test type: (required keys, optional keys)
TEST_KEYS = {
    "independence": ({"row", "column"}, set()),
    "pairwise": ({"variable", "by"}, {"categories"}),
    "against": ({"variable", "value"}, {"categories"}),
    "goodness_of_fit": ({"variable", "shares"}, set()),
}


def _mapping(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"`{where}` must be a mapping, not {type(value).__name__}")
    return dict(value)


def _known(section: Mapping, allowed: set, where: str) -> None:
    for key in section:
        if key not in allowed:
            raise SpecError(f"unknown key `{key}` in {where}; allowed: {', '.join(sorted(allowed))}")


def _required(section: Mapping, key: str, where: str) -> Any:
    if section.get(key) is None:
        raise SpecError(f"{where} needs `{key}`")
    return section[key]


def _one_of(value: Any, allowed: tuple, key: str, where: str) -> Any:
    if value not in allowed:
        raise SpecError(f"{where}: `{key}: {value}` is not one of {', '.join(allowed)}")
    return value


def _level(value: Any, where: str) -> float:
    if not isinstance(value, (int, float)) or not 0 < value < 1:
        raise SpecError(f"{where}: `level: {value}` must be a number between 0 and 1")
    return float(value)


def _strings(value: Any, key: str, where: str) -> list[str]:
    """A value or a list of values, as text spelled as R writes it (``TRUE``, ``1``)."""
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(i, (list, dict)) or i is None for i in items):
        raise SpecError(f"{where}: `{key}` must be a value or a list of values")
    return [r_text(i) for i in items]


def validate_spec(spec: Mapping) -> dict:
    """Check a spec's structure and fill in defaults; raise SpecError naming the key at fault."""
    spec = _mapping(spec, "spec")
    _known(spec, TOP_KEYS, "the spec")
    out: dict[str, Any] = {"data": _required(spec, "data", "the spec")}
    design = _mapping(spec.get("design"), "design")
    _known(design, DESIGN_KEYS, "design")
    out["design"] = design

    weighting = _mapping(spec.get("weighting"), "weighting")
    if weighting:
        method = _one_of(_required(weighting, "method", "weighting"), tuple(METHODS), "method", "weighting")
        _known(weighting, {"method", *METHODS[method].options}, f"weighting ({method})")
        for key in METHODS[method].required:
            _required(weighting, key, f"weighting ({method})")
        for key in ("margins", "cells"):
            if key in weighting:
                _mapping(weighting[key], f"weighting.{key}")
        if method == "calibrate":
            weighting["calfun"] = _one_of(weighting.get("calfun", "linear"), CALFUNS, "calfun", "weighting")
        for key in ("bounds", "trim"):
            if key in weighting and (not isinstance(weighting[key], list) or len(weighting[key]) != 2):
                raise SpecError(f"weighting: `{key}` must be a list [lower, upper]")
    out["weighting"] = weighting or None

    variance = _mapping(spec.get("variance"), "variance")
    _known(variance, VARIANCE_KEYS, "variance")
    variance["method"] = _one_of(variance.get("method", "linearization"), VARIANCE_METHODS, "method", "variance")
    if variance["method"] != "bootstrap" and ({"replicates", "seed"} & set(variance)):
        raise SpecError("variance: `replicates` and `seed` apply to method `bootstrap` only")
    out["variance"] = variance

    out["estimates"] = [_estimate(e, i) for i, e in enumerate(spec.get("estimates") or [])]
    out["tests"] = [_test(t, i) for i, t in enumerate(spec.get("tests") or [])]
    out["models"] = [_model(m, i) for i, m in enumerate(spec.get("models") or [])]
    for section in ("estimates", "tests", "models"):
        ids = [e["id"] for e in out[section]]
        if len(set(ids)) != len(ids):
            raise SpecError(f"{section[:-1]} ids must be unique")
    return out


def _estimate(entry: Any, position: int) -> dict:
    e = _mapping(entry, f"estimates[{position}]")
    where = f"estimate `{e.get('id', position)}`"
    _known(e, ESTIMATE_KEYS, where)
    for key in ("id", "type"):
        _required(e, key, where)
    e["id"] = str(e["id"])
    kind = _one_of(e["type"], ESTIMATE_TYPES, "type", where)
    needed = {"proportion": ("variable", "categories"), "ratio": ("numerator", "denominator"),
              "quantile": ("variable", "quantile")}.get(kind, ("variable",))
    for key in needed:
        _required(e, key, where)
    allowed = set(needed) | {"id", "type", "level", "by"}
    allowed |= {"proportion": {"ci"}, "mean": {"ci"}, "total": {"categories"}}.get(kind, set())
    for key in e:
        if key not in allowed:
            raise SpecError(f"{where}: `{key}` does not apply to type `{kind}`")
    if "categories" in e:
        e["categories"] = _strings(e["categories"], "categories", where)
    if kind == "proportion":
        e["ci"] = _one_of(e.get("ci", "logit"), PROPORTION_CI, "ci", where)
    elif kind == "mean":
        e["ci"] = _one_of(e.get("ci", "mean"), MEAN_CI, "ci", where)
    if kind == "quantile" and not (isinstance(e["quantile"], (int, float)) and 0 < e["quantile"] < 1):
        raise SpecError(f"{where}: `quantile: {e['quantile']}` must be a probability between 0 and 1 (0.5: the median)")
    if e.get("by") is not None:
        e["by"] = [str(b) for b in _strings(e["by"], "by", where)]
    e["level"] = _level(e.get("level", 0.95), where)
    return e


def _test(entry: Any, position: int) -> dict:
    t = _mapping(entry, f"tests[{position}]")
    where = f"test `{t.get('id', position)}`"
    for key in ("id", "type"):
        _required(t, key, where)
    t["id"] = str(t["id"])
    kind = _one_of(t["type"], tuple(TEST_KEYS), "type", where)
    required, optional = TEST_KEYS[kind]
    _known(t, {"id", "type"} | required | optional, where)
    for key in sorted(required):
        _required(t, key, where)
    if "categories" in t:
        t["categories"] = _strings(t["categories"], "categories", where)
    if kind == "pairwise" and not isinstance(t["by"], str):
        raise SpecError(f"{where}: `by` must name one variable")
    if kind == "against" and (isinstance(t["value"], bool) or not isinstance(t["value"], (int, float))):
        raise SpecError(f"{where}: `value: {t['value']}` must be a number (a share as 0.41)")
    if kind == "goodness_of_fit":
        t["shares"] = _mapping(t["shares"], f"{where}.shares")
    return t


def _model(entry: Any, position: int) -> dict:
    m = _mapping(entry, f"models[{position}]")
    where = f"model `{m.get('id', position)}`"
    _known(m, MODEL_KEYS, where)
    for key in ("id", "family", "outcome", "predictors"):
        _required(m, key, where)
    m["id"] = str(m["id"])
    _one_of(m["family"], FAMILIES, "family", where)
    m["predictors"] = _strings(m["predictors"], "predictors", where)
    if m["family"] == "binomial":
        m["categories"] = _strings(_required(m, "categories", where), "categories", where)
    elif "categories" in m:
        raise SpecError(f"{where}: `categories` applies to family `binomial` only")
    m["reference"] = {str(k): str(v) for k, v in _mapping(m.get("reference"), f"{where}.reference").items()}
    m["level"] = _level(m.get("level", 0.95), where)
    return m


def load_spec(path: Union[str, Path]) -> dict:
    """Read and validate a YAML spec file."""
    with open(path, encoding="utf-8") as handle:
        return validate_spec(yaml.safe_load(handle) or {})


def read_data(path: Union[str, Path], columns: Optional[Collection[str]] = None) -> pd.DataFrame:
    """CSV as R's ``read.csv(na.strings = "")`` reads it: only empty fields are missing.

    ``columns``: read only those of the file's columns (in file order); names the file does
    not have are ignored, and with none left the first column is read so that every row
    still counts. Each column is typed from its own values, so reading fewer gives the same
    values for those read, at a fraction of the cost on a wide file.
    """
    usecols = None
    if columns is not None:
        header = list(pd.read_csv(path, nrows=0).columns)
        usecols = [c for c in header if c in columns] or header[:1]
    return pd.read_csv(path, keep_default_na=False, na_values=[""], usecols=usecols)


def spec_columns(spec: Any) -> set[str]:
    """Every text in ``spec`` (values, list items and mapping keys, at any depth): a superset
    of the data columns it names, whichever keys name them."""
    if isinstance(spec, Mapping):
        return {str(k) for k in spec} | {c for v in spec.values() for c in spec_columns(v)}
    if isinstance(spec, (list, tuple)):
        return {c for v in spec for c in spec_columns(v)}
    return {spec} if isinstance(spec, str) else set()


def build_design(spec: Mapping, data: pd.DataFrame) -> SurveyDesign:
    """The weighted (and replicated) design a validated spec describes."""
    d = spec["design"]
    design = SurveyDesign(
        data, weights=d.get("weights"), strata=d.get("strata"), cluster=d.get("cluster"),
        lonely_psu=d.get("lonely_psu", "adjust"),
    )
    variance = spec["variance"]
    if variance["method"] != "linearization":
        design = design.with_replicates(variance["method"], replicates=variance.get("replicates"), seed=variance.get("seed"))
    w = spec["weighting"]
    if not w:
        return design
    try:
        design = _weight(design, w)
    except ValueError as error:  # the targets cannot be reached: no result, as R's "Calibration failed"
        raise WeightingError(f"weighting ({w['method']}): {error}") from error
    if w.get("trim") is not None:
        design = trim(design, *w["trim"])
    return design


def _weight(design: SurveyDesign, w: Mapping) -> SurveyDesign:
    options = {k: w[k] for k in ("tol", "max_iter") if k in w}
    if w["method"] == "rake" and w.get("bounds") is None:
        return rake(design, w["margins"], population=w.get("population"), **options)
    if w["method"] == "rake":  # bounded raking is calibration with the raking distance
        return calibrate(design, w["margins"], calfun="raking", bounds=w["bounds"],
                         population=w.get("population"), **options)
    if w["method"] == "calibrate":
        return calibrate(design, w["margins"], calfun=w["calfun"], bounds=w.get("bounds"),
                         population=w.get("population"), **options)
    return poststratify(design, w["by"], w["cells"], population=w.get("population"))


def _number(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True, eq=False)
class SpecResult:
    """What a spec computed, as objects: the weighted design's ``diagnostics``, its ``degf`` and
    final ``weights`` (data row order), and per id of the spec the ``estimates`` (one
    ``Estimate``, or one per domain), ``tests`` (the test's result object) and ``models``.
    ``warnings``: the text of every warning raised on the way (non-convergence among them).
    :meth:`contract` is the JSON ``run_spec`` returns; :meth:`to_dict` / :meth:`from_dict`
    keep every field (for a cache shared between processes).
    """

    degf: int
    weights: np.ndarray
    diagnostics: WeightingDiagnostics
    estimates: dict[str, tuple[Estimate, ...]]
    tests: dict[str, Any] = field(default_factory=dict)
    models: dict[str, ModelResult] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def converged(self) -> bool:
        return self.diagnostics.converged

    def contract(self) -> dict:
        """The result as the contract (README) describes it: ``degf``, ``converged``, ``weights``,
        ``estimates`` (one row per estimate and domain) and, when the spec has them, ``tests``
        and ``models``."""
        out: dict[str, Any] = {"degf": int(self.degf), "converged": self.converged, "weights": self.weights.tolist(),
                               "estimates": [_estimate_row(id_, r) for id_, rows in self.estimates.items() for r in rows]}
        if self.tests:
            out["tests"] = [row for id_, test in self.tests.items() for row in _test_rows(id_, test)]
        if self.models:
            out["models"] = [_model_row(id_, fit) for id_, fit in self.models.items()]
        return out

    def to_dict(self) -> dict:
        return to_plain(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "SpecResult":
        return from_plain(data, _RESULT_TYPES)


def run(spec: Mapping, data: pd.DataFrame) -> SpecResult:
    """Run a spec on ``data`` (one row per respondent; the spec's ``data`` key is not read).

    Warnings are collected into ``SpecResult.warnings`` and raised again on the way out.
    A weighting step that cannot reach its targets raises ``WeightingError``.
    """
    spec = validate_spec(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = build_design(spec, data)
        estimates = {}
        for e in spec["estimates"]:
            result = _estimate_result(design, e)
            estimates[e["id"]] = (result,) if e.get("by") is None else tuple(result)
        tests = {t["id"]: _test_result(design, t) for t in spec["tests"]}
        models = {m["id"]: _model_result(design, m) for m in spec["models"]}
        diagnostics = design.diagnostics
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return SpecResult(int(design.degf), design.weights, diagnostics, estimates, tests, models,
                      tuple(sorted({str(w.message) for w in caught})))


def run_spec(spec: Mapping, base_dir: Union[str, Path] = ".") -> dict:
    """Run a spec (a mapping as parsed from YAML) on its data file, relative to ``base_dir``.

    Returns the result as README describes (``SpecResult.contract``): ``degf``, ``converged``
    (False when some replicates' weighting did not converge; see ``WeightingDiagnostics``),
    ``weights`` (data row order), ``estimates`` (one per estimate and domain) and, when the
    spec has them, ``tests`` and ``models``. A weighting step that cannot reach its targets
    raises ``WeightingError``.
    """
    spec = validate_spec(spec)
    return run(spec, read_data(Path(base_dir) / spec["data"], columns=spec_columns(spec))).contract()


def _estimate_row(id_: str, r: Estimate) -> dict:
    return {"id": id_, "domain": r.domain, "estimate": _number(r.estimate), "se": _number(r.se),
            "ci_low": _number(r.ci_low), "ci_high": _number(r.ci_high), "deff": _number(r.deff), "n": r.n}


def _estimate_result(design: SurveyDesign, e: Mapping):
    common = dict(by=e.get("by"), level=e["level"])
    if e["type"] == "proportion":
        return proportion(design, e["variable"], e["categories"], ci=e["ci"], **common)
    if e["type"] == "mean":
        return mean(design, e["variable"], **common)
    if e["type"] == "total":
        return total(design, e["variable"], e.get("categories"), **common)
    if e["type"] == "ratio":
        return ratio(design, e["numerator"], e["denominator"], **common)
    return quantile(design, e["variable"], e["quantile"], **common)


def _test_result(design: SurveyDesign, t: Mapping):
    if t["type"] == "independence":
        return independence(design, t["row"], t["column"])
    if t["type"] == "pairwise":
        return pairwise(design, t["variable"], t["by"], t.get("categories"))
    if t["type"] == "against":
        cats = t.get("categories")
        estimate = mean(design, t["variable"]) if cats is None else proportion(design, t["variable"], cats)
        return test_against(estimate, t["value"], df=design.degf)
    return goodness_of_fit(design, t["variable"], t["shares"])


def _test_rows(id_: str, r) -> list[dict]:
    """The contract's rows of one test result (pairwise: one per pair of domains)."""
    if isinstance(r, IndependenceTest):
        return [{"id": id_, "statistic": r.statistic, "ndf": r.ndf, "ddf": r.ddf, "p_value": r.p_value}]
    if isinstance(r, PairwiseTests):
        return [{"id": id_, "a": p.a, "b": p.b, "difference": _number(p.difference), "se": _number(p.se),
                 "p_value": _number(p.p_value)} for p in r]
    if isinstance(r, WaldTest):
        return [{"id": id_, "difference": _number(r.difference), "se": _number(r.se), "p_value": _number(r.p_value)}]
    return [{"id": id_, "statistic": r.statistic, "df": r.df, "p_value": r.p_value}]


def _model_result(design: SurveyDesign, m: Mapping) -> ModelResult:
    return svyglm(design, m["outcome"], m["predictors"], family=m["family"], categories=m.get("categories"),
                  reference=m["reference"] or None, level=m["level"])


def _model_row(id_: str, fit: ModelResult) -> dict:
    return {
        "id": id_, "df_residual": int(fit.df_residual), "n": int(fit.n),
        "coefficients": [
            {"term": c.term, "estimate": _number(c.estimate), "se": _number(c.se), "ci_low": _number(c.ci_low),
             "ci_high": _number(c.ci_high), "p_value": _number(c.p_value)}
            for c in fit.coefficients
        ],
    }


_RESULT_TYPES = {cls.__name__: cls for cls in (
    SpecResult, WeightingDiagnostics, MarginCheck, Estimate, IndependenceTest, PairwiseTests, PairDifference,
    WaldTest, GoodnessOfFit, ModelResult, Coefficient,
)}
