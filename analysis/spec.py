"""Analysis spec files: parse, validate and run them (``python -m analysis run SPEC.yaml``).

The format is the one of ``shared/reference/analysis/README.md``. Validation happens before
any data is read, and every problem names the key (and the estimate or model) at fault.
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd
import yaml

from analysis.design import REPLICATE_METHODS, SurveyDesign
from analysis.estimates import MEAN_CI, PROPORTION_CI, mean, proportion, total
from analysis.exceptions import SpecError
from analysis.models import FAMILIES, svyglm
from analysis.weighting import CALFUNS, calibrate, poststratify, rake, trim

TOP_KEYS = {"data", "design", "weighting", "variance", "estimates", "models"}
DESIGN_KEYS = {"weights", "strata", "cluster", "lonely_psu"}
WEIGHTING_KEYS = {"method", "population", "margins", "by", "cells", "calfun", "bounds", "trim", "tol", "max_iter"}
VARIANCE_KEYS = {"method", "replicates", "seed"}
ESTIMATE_KEYS = {"id", "variable", "type", "categories", "ci", "level", "by"}
MODEL_KEYS = {"id", "family", "outcome", "categories", "predictors", "reference", "level"}
WEIGHTING_METHODS = ("rake", "poststratify", "calibrate")
VARIANCE_METHODS = ("linearization",) + REPLICATE_METHODS
ESTIMATE_TYPES = ("proportion", "mean", "total")


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
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(i, (list, dict)) or i is None for i in items):
        raise SpecError(f"{where}: `{key}` must be a value or a list of values")
    return [str(i) for i in items]


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
        _known(weighting, WEIGHTING_KEYS, "weighting")
        method = _one_of(_required(weighting, "method", "weighting"), WEIGHTING_METHODS, "method", "weighting")
        if method in ("rake", "calibrate"):
            _mapping(_required(weighting, "margins", f"weighting ({method})"), "weighting.margins")
        if method == "poststratify":
            _required(weighting, "by", "weighting (poststratify)")
            _mapping(_required(weighting, "cells", "weighting (poststratify)"), "weighting.cells")
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
    out["models"] = [_model(m, i) for i, m in enumerate(spec.get("models") or [])]
    ids = [e["id"] for e in out["estimates"]]
    if len(set(ids)) != len(ids):
        raise SpecError("estimate ids must be unique")
    return out


def _estimate(entry: Any, position: int) -> dict:
    e = _mapping(entry, f"estimates[{position}]")
    where = f"estimate `{e.get('id', position)}`"
    _known(e, ESTIMATE_KEYS, where)
    for key in ("id", "variable", "type"):
        _required(e, key, where)
    e["id"] = str(e["id"])
    _one_of(e["type"], ESTIMATE_TYPES, "type", where)
    if e["type"] == "proportion":
        e["categories"] = _strings(_required(e, "categories", where), "categories", where)
        e["ci"] = _one_of(e.get("ci", "logit"), PROPORTION_CI, "ci", where)
    else:
        if "categories" in e and e["type"] == "mean":
            raise SpecError(f"{where}: `categories` does not apply to type `mean`")
        e["ci"] = _one_of(e.get("ci", "mean"), MEAN_CI, "ci", where)
    e["level"] = _level(e.get("level", 0.95), where)
    return e


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
    options = {k: w[k] for k in ("tol", "max_iter") if k in w}
    if w["method"] == "rake" and w.get("bounds") is None:
        design = rake(design, w["margins"], population=w.get("population"), **options)
    elif w["method"] == "rake":  # bounded raking is calibration with the raking distance
        design = calibrate(design, w["margins"], calfun="raking", bounds=w["bounds"],
                           population=w.get("population"), **options)
    elif w["method"] == "calibrate":
        design = calibrate(design, w["margins"], calfun=w["calfun"], bounds=w.get("bounds"),
                           population=w.get("population"), **options)
    else:
        design = poststratify(design, w["by"], w["cells"], population=w.get("population"))
    if w.get("trim") is not None:
        design = trim(design, *w["trim"])
    return design


def _number(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else float(value)


def run_spec(spec: Mapping, base_dir: Union[str, Path] = ".") -> dict:
    """Run a spec (a mapping as parsed from YAML); ``data`` is relative to ``base_dir``.

    Returns the result as README describes: ``degf``, ``weights`` (data row order),
    ``estimates`` (one per estimate and domain) and, when the spec has models, ``models``.
    """
    spec = validate_spec(spec)
    data = read_data(Path(base_dir) / spec["data"], columns=spec_columns(spec))
    design = build_design(spec, data)
    estimates = []
    for e in spec["estimates"]:
        common = dict(by=e.get("by"), ci=e["ci"], level=e["level"])
        if e["type"] == "proportion":
            result = proportion(design, e["variable"], e["categories"], **common)
        elif e["type"] == "mean":
            result = mean(design, e["variable"], **common)
        else:
            result = total(design, e["variable"], e.get("categories"), **common)
        for r in ([result] if e.get("by") is None else list(result)):
            estimates.append({
                "id": e["id"], "domain": r.domain, "estimate": _number(r.estimate), "se": _number(r.se),
                "ci_low": _number(r.ci_low), "ci_high": _number(r.ci_high), "deff": _number(r.deff),
            })
    out: dict[str, Any] = {"degf": int(design.degf), "weights": design.weights.tolist(),
                           "estimates": estimates}
    if spec["models"]:
        out["models"] = [_run_model(design, m) for m in spec["models"]]
    return out


def _run_model(design: SurveyDesign, m: Mapping) -> dict:
    fit = svyglm(design, m["outcome"], m["predictors"], family=m["family"], categories=m.get("categories"),
                 reference=m["reference"] or None, level=m["level"])
    return {
        "id": m["id"], "df_residual": int(fit.df_residual), "n": int(fit.n),
        "coefficients": [
            {"term": c.term, "estimate": _number(c.estimate), "se": _number(c.se), "ci_low": _number(c.ci_low),
             "ci_high": _number(c.ci_high), "p_value": _number(c.p_value)}
            for c in fit.coefficients
        ],
    }

