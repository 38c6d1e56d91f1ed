"""Weighting runs: the pollster's choices -> an ``analysis`` spec -> weights, diagnostics, tables.

Every number the site shows comes from ``analysis.spec.run_spec`` applied to a spec this
module writes and to the data file it writes beside it, byte for byte the files a pollster
downloads, so ``python -m analysis run`` on the downloads gives the same numbers.

A run (``WeightingRun``) stores the settings, the exclusion rules, the exact respondents
used and the hash of their data file. Computed results are cached under a key made of the
spec and the data hash, in Redis when ``REDIS_URL`` is set (shared by every worker) and
otherwise in a small in-process LRU, so a page view recomputes only when its inputs change.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import math
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import sqlalchemy as sa
import yaml
from flask import current_app

from analysis.spec import build_design, read_data, run_spec, validate_spec
from survey.extensions import db
from survey.models import Pollster, Response, ResponseStatus, Survey, TargetSet, WeightingRun
from survey.responses.quality import ExclusionRules
from survey.weighting.reference_data import california_adult_targets
from survey.responses.dataset import OPTION_SEPARATOR, QuestionInfo, ResponseData, load_responses
from survey.weighting.targets import Targets

log = logging.getLogger(__name__)

METHODS = {"rake": "Raking", "poststratify": "Post-stratification", "calibrate": "Calibration with bounds"}
CALFUNS = ("raking", "linear", "logit")
INTERVAL_METHODS = {
    "logit": "Logit (default; stays inside 0–100%)",
    "beta": "Korn–Graubard (Clopper–Pearson with effective n)",
    "xlogit": "Logit, delta method",
    "asin": "Arcsine square root",
    "mean": "Wald (estimate ± t·SE)",
}
VARIANCE_METHODS = {"linearization": "Linearization", "jk1": "Jackknife (JK1) replicate weights"}
DATA_FILE = "data.csv"
ID_COLUMN = "respondent_id"


class WeightingError(ValueError):
    """The weighting could not be done; the message is the analysis module's, for the pollster."""


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class WeightingSettings:
    """What a pollster chooses on the weighting page, stored with every run."""

    targets: Targets
    method: str = "rake"
    poststratify_by: Optional[str] = None
    calfun: str = "raking"
    bounds: Optional[tuple[float, float]] = None
    trim: Optional[tuple[float, float]] = None  # as multiples of the mean weight
    variance: str = "linearization"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise WeightingError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.calfun not in CALFUNS:
            raise WeightingError(f"calibration function must be one of {', '.join(CALFUNS)}, not {self.calfun!r}")
        if self.variance not in VARIANCE_METHODS:
            raise WeightingError(f"variance method must be one of {', '.join(VARIANCE_METHODS)}, not {self.variance!r}")
        if self.method == "poststratify" and self.poststratify_by not in self.targets.margins:
            raise WeightingError(
                f"post-stratification needs one variable of the targets to form cells; choose one of "
                f"{', '.join(self.targets.margins)}"
            )
        for name, pair in (("bounds", self.bounds), ("trim", self.trim)):
            if pair is not None and not (0 < pair[0] < pair[1]):
                raise WeightingError(f"{name} must be a lower and an upper value with 0 < lower < upper, not {pair}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": self.targets.to_dict(),
            "method": self.method,
            "poststratify_by": self.poststratify_by,
            "calfun": self.calfun,
            "bounds": list(self.bounds) if self.bounds else None,
            "trim": list(self.trim) if self.trim else None,
            "variance": self.variance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WeightingSettings":
        return cls(
            targets=Targets.from_dict(data["targets"]),
            method=data.get("method", "rake"),
            poststratify_by=data.get("poststratify_by"),
            calfun=data.get("calfun", "raking"),
            bounds=tuple(data["bounds"]) if data.get("bounds") else None,
            trim=tuple(data["trim"]) if data.get("trim") else None,
            variance=data.get("variance", "linearization"),
        )

    def weighting_spec(self, n: int) -> dict[str, Any]:
        """The ``weighting:`` section of the analysis spec, for ``n`` respondents."""
        population = self.targets.population or float(n)
        spec: dict[str, Any] = {"method": self.method, "population": population}
        if self.method == "poststratify":
            variable = self.poststratify_by
            spec["by"] = [variable]
            spec["cells"] = dict(self.targets.margins[variable])
        else:
            spec["margins"] = {variable: dict(levels) for variable, levels in self.targets.margins.items()}
        if self.method == "calibrate":
            spec["calfun"] = self.calfun
            if self.bounds:
                spec["bounds"] = list(self.bounds)
        if self.trim and n:
            mean_weight = population / n
            spec["trim"] = [self.trim[0] * mean_weight, self.trim[1] * mean_weight]
        return spec


# --------------------------------------------------------------------------- targets


def default_targets() -> Targets:
    """The shipped California adult targets, each variable with its source and vintage
    (party registration, which describes registered voters, is left out)."""
    return california_adult_targets()


def current_targets(survey: Survey) -> Targets:
    """The pollster's latest targets for ``survey``, else the shipped defaults, limited to the
    variables the questionnaire asks (a target without a question cannot be weighted to)."""
    stored = db.session.scalar(
        sa.select(TargetSet).where(TargetSet.survey_id == survey.id).order_by(TargetSet.id.desc()).limit(1)
    )
    targets = Targets.from_dict(stored.targets) if stored else default_targets()
    if stored:
        return targets
    asked = weighting_variables(survey)
    return targets.only([variable for variable in targets.margins if variable in asked])


def weighting_variables(survey: Survey) -> dict[str, str]:
    """Weighting variable -> the question code that measures it."""
    return {q.weighting_variable: q.code for q in survey.questions if q.weighting_variable}


def save_targets(survey: Survey, targets: Targets, pollster: Optional[Pollster]) -> TargetSet:
    row = TargetSet(survey_id=survey.id, targets=targets.to_dict(), created_by_id=pollster.id if pollster else None)
    db.session.add(row)
    return row


# --------------------------------------------------------------------------- data and spec


def analysis_frame(data: ResponseData, variables: Mapping[str, str]) -> pd.DataFrame:
    """The data file of a run: respondent id, every analysable answer, the interview language,
    and each weighting variable under its own name (a copy of its question's column)."""
    frame = data.included.reset_index()
    for variable, code in variables.items():
        if variable not in frame.columns and code in frame.columns:
            frame[variable] = frame[code]
    return frame


def data_csv(frame: pd.DataFrame) -> bytes:
    """The data file as written for ``python -m analysis run`` (and downloaded beside the spec)."""
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def estimate_specs(
    questions: Sequence[QuestionInfo], interval: str, by: Optional[str] = None, level: float = 0.95
) -> list[dict[str, Any]]:
    """One estimate per option of every closed question (and a mean per numeric one); screening
    questions and attention checks are left out: they measure eligibility and care, not opinion."""
    estimates = []
    for question in questions:
        if question.screener or question.attention_check:
            continue
        extra = {"by": by} if by and by != question.code else {}
        if question.multiple:
            for option in question.options:
                column = f"{question.code}{OPTION_SEPARATOR}{option.code}"
                estimates.append({"id": column, "variable": column, "type": "proportion", "categories": [1],
                                  "ci": interval, "level": level, **extra})
        elif question.closed:
            for option in question.options:
                estimates.append({"id": f"{question.code}={option.code}", "variable": question.code,
                                  "type": "proportion", "categories": [option.code], "ci": interval,
                                  "level": level, **extra})
        elif question.numeric:
            estimates.append({"id": f"{question.code}:mean", "variable": question.code, "type": "mean",
                              "ci": "mean", "level": level, **extra})
    return estimates


def build_spec(
    settings: WeightingSettings, n: int, estimates: list[dict[str, Any]], data_file: str = DATA_FILE
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "data": data_file,
        "design": {},
        "weighting": settings.weighting_spec(n),
        "variance": {"method": settings.variance},
        "estimates": estimates,
    }
    return spec


def spec_yaml(spec: Mapping[str, Any], header: str = "") -> str:
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- running and caching


class _LRU:
    def __init__(self, size: int = 32):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: str) -> Optional[str]:
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def set(self, key: str, value: str) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_local_cache = _LRU()
CACHE_SECONDS = 24 * 3600


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get("results_redis")
    if client is None:
        import redis

        client = current_app.extensions["results_redis"] = redis.Redis.from_url(url)
    return client


def cache_key(spec: Mapping[str, Any], data_hash: str) -> str:
    text = json.dumps(spec, sort_keys=True, default=str) + data_hash
    return "survey:analysis:" + hashlib.sha256(text.encode()).hexdigest()


def run_analysis(spec: Mapping[str, Any], csv_bytes: bytes) -> dict[str, Any]:
    """``run_spec`` on this spec and data file, cached until either changes.

    Raises ``WeightingError`` with the analysis module's own message when the targets or
    options do not fit the data; warnings (such as non-convergence) are returned under
    ``"warnings"`` rather than lost.
    """
    key = cache_key(spec, hashlib.sha256(csv_bytes).hexdigest())
    client = _redis()
    cached = client.get(key) if client is not None else _local_cache.get(key)
    if cached is not None:
        return json.loads(cached)
    with tempfile.TemporaryDirectory(prefix="weighting-") as folder:
        (Path(folder) / spec["data"]).write_bytes(csv_bytes)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = run_spec(copy.deepcopy(dict(spec)), folder)
            except (ValueError, KeyError, np.linalg.LinAlgError) as error:
                raise WeightingError(str(error).strip("'\"")) from error
            except ArithmeticError as error:  # e.g. an interval for a share of exactly 0 or 1
                log.exception("analysis failed on spec %s", spec.get("data"))
                raise WeightingError(
                    f"the analysis could not compute every estimate ({type(error).__name__}: {error}); "
                    "an answer given by everyone or no one in a group can cause this, try another interval method"
                ) from error
    result = json.loads(json.dumps(result, default=_plain))
    result["warnings"] = sorted({str(w.message) for w in caught})
    text = json.dumps(result)
    if client is not None:
        client.set(key, text, ex=CACHE_SECONDS)
    else:
        _local_cache.set(key, text)
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a cached result")


# --------------------------------------------------------------------------- diagnostics


@dataclass(frozen=True)
class MarginCheck:
    variable: str
    level: str
    target: float
    unweighted: float
    achieved: float

    @property
    def difference(self) -> float:
        return self.achieved - self.target


@dataclass(frozen=True)
class Diagnostics:
    """What a pollster must see before reading an estimate weighted this way."""

    n: int
    sum_of_weights: float
    min_weight: float
    max_weight: float
    design_effect: float  # Kish's 1 + CV² of the weights: the variance cost of weighting
    effective_n: float
    converged: bool
    warnings: list[str]
    margins: list[MarginCheck] = field(default_factory=list)

    @property
    def max_margin_gap(self) -> float:
        return max((abs(m.difference) for m in self.margins), default=0.0)

    def summary(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "sum_of_weights": self.sum_of_weights,
            "min_weight": self.min_weight,
            "max_weight": self.max_weight,
            "design_effect": self.design_effect,
            "effective_n": self.effective_n,
            "converged": self.converged,
            "warnings": self.warnings,
            "max_margin_gap": self.max_margin_gap,
            "margins": [
                {"variable": m.variable, "level": m.level, "target": m.target, "unweighted": m.unweighted,
                 "achieved": m.achieved}
                for m in self.margins
            ],
        }


def diagnostics(frame: pd.DataFrame, settings: WeightingSettings, result: Mapping[str, Any]) -> Diagnostics:
    weights = np.asarray(result["weights"], dtype=float)
    total = float(weights.sum())
    n = len(weights)
    effective_n = total**2 / float((weights**2).sum()) if n else 0.0
    checks = []
    margins = (
        {settings.poststratify_by: settings.targets.margins[settings.poststratify_by]}
        if settings.method == "poststratify"
        else settings.targets.margins
    )
    for variable, levels in margins.items():
        column = frame[variable].astype(str) if variable in frame.columns else pd.Series([], dtype=str)
        for level, target in levels.items():
            hit = (column == level).to_numpy()
            checks.append(
                MarginCheck(
                    variable=variable,
                    level=level,
                    target=target,
                    unweighted=float(hit.mean()) if n else 0.0,
                    achieved=float(weights[hit].sum() / total) if total else 0.0,
                )
            )
    caught = list(result.get("warnings", []))
    return Diagnostics(
        n=n,
        sum_of_weights=total,
        min_weight=float(weights.min()) if n else 0.0,
        max_weight=float(weights.max()) if n else 0.0,
        design_effect=n / effective_n if effective_n else math.nan,
        effective_n=effective_n,
        converged=not any("converge" in w.lower() for w in caught),
        warnings=caught,
        margins=checks,
    )


# --------------------------------------------------------------------------- runs


@dataclass
class ComputedRun:
    """A run's data file, spec and result, ready for pages, the API and downloads."""

    run: WeightingRun
    data: ResponseData
    frame: pd.DataFrame
    csv_bytes: bytes
    spec: dict[str, Any]
    result: dict[str, Any]
    settings: WeightingSettings

    @property
    def data_matches(self) -> bool:
        """False if a response used by the run was changed since: the numbers may then differ."""
        return hashlib.sha256(self.csv_bytes).hexdigest() == self.run.data_hash


def create_run(
    survey: Survey, settings: WeightingSettings, rules: ExclusionRules, pollster: Optional[Pollster],
    methodology: Optional[dict[str, Any]] = None,
) -> WeightingRun:
    """Weight the current included responses and store the run; the caller commits.

    ``methodology`` is the survey's disclosure items and dispositions at this moment
    (``survey.reporting.methodology.snapshot``), kept with the run for its statement.

    Raises ``WeightingError`` (the analysis module's message) if the targets do not fit.
    """
    data = load_responses(survey, rules)
    frame = analysis_frame(data, weighting_variables(survey))
    if frame.empty:
        raise WeightingError("there are no complete responses left after the exclusion rules, so nothing can be weighted")
    csv_bytes = data_csv(frame)
    spec = build_spec(settings, len(frame), [])
    result = run_analysis(spec, csv_bytes)
    summary = diagnostics(frame, settings, result).summary()
    # every complete response seen, excluded ones too, so later pages count only newer ones as new
    summary["last_response_id"] = int(data.answers.index.max())
    run = WeightingRun(
        survey_id=survey.id,
        settings=settings.to_dict(),
        exclusion_rules=rules.to_dict(),
        response_ids=[int(i) for i in frame[ID_COLUMN]],
        data_hash=hashlib.sha256(csv_bytes).hexdigest(),
        diagnostics=summary,
        methodology=methodology,
        created_by_id=pollster.id if pollster else None,
    )
    db.session.add(run)
    return run


def check_targets(survey: Survey, targets: Targets) -> None:
    """Raise ``WeightingError`` with the analysis module's message if ``targets`` cannot weight
    this survey's current responses (shares that do not sum to 1, a level nobody gave, ...)."""
    if not targets.margins:
        raise WeightingError("the targets name no variable to weight by")
    unknown = sorted(set(targets.margins) - set(weighting_variables(survey)))
    if unknown:
        raise WeightingError(
            f"no question of this survey measures {', '.join(unknown)}; the weighting variables are "
            f"{', '.join(weighting_variables(survey)) or 'none'}"
        )
    data = load_responses(survey)
    frame = analysis_frame(data, weighting_variables(survey))
    if frame.empty:
        frame = _placeholder_frame(targets)
    run_analysis(build_spec(WeightingSettings(targets=targets), len(frame), []), data_csv(frame))


def _placeholder_frame(targets: Targets) -> pd.DataFrame:
    """Before any response: one row per level of every variable, so the analysis can still check the shares."""
    width = max(len(levels) for levels in targets.margins.values())
    return pd.DataFrame(
        {variable: [list(levels)[i % len(levels)] for i in range(width)] for variable, levels in targets.margins.items()}
    )


def runs_of(survey: Survey) -> list[WeightingRun]:
    return list(
        db.session.scalars(sa.select(WeightingRun).where(WeightingRun.survey_id == survey.id).order_by(WeightingRun.id.desc()))
    )


def latest_run(survey: Survey) -> Optional[WeightingRun]:
    return db.session.scalar(
        sa.select(WeightingRun).where(WeightingRun.survey_id == survey.id).order_by(WeightingRun.id.desc()).limit(1)
    )


def run_of(survey: Survey, run_id: int) -> Optional[WeightingRun]:
    return db.session.scalar(sa.select(WeightingRun).where(WeightingRun.survey_id == survey.id, WeightingRun.id == run_id))


def compute(
    run: WeightingRun, interval: str = "logit", by: Optional[str] = None, estimates: bool = True
) -> ComputedRun:
    """The run's spec (with toplines, and a crosstab ``by`` a variable) on exactly its respondents."""
    if interval not in INTERVAL_METHODS:
        raise WeightingError(f"interval method must be one of {', '.join(INTERVAL_METHODS)}, not {interval!r}")
    survey = db.session.get(Survey, run.survey_id)
    settings = WeightingSettings.from_dict(run.settings)
    rules = ExclusionRules.from_dict(run.exclusion_rules)
    data = load_responses(survey, rules)
    used = data.answers.index.isin(run.response_ids)
    data.excluded = pd.Series(~used, index=data.answers.index)
    frame = analysis_frame(data, weighting_variables(survey))
    if by is not None and by not in frame.columns:
        raise WeightingError(f"cannot cross by {by!r}: it is not a question of this survey")
    csv_bytes = data_csv(frame)
    specs = estimate_specs(data.questions, interval, by) if estimates else []
    spec = build_spec(settings, len(frame), specs, data_file=f"{survey.slug}-run{run.id}-data.csv")
    return ComputedRun(run, data, frame, csv_bytes, spec, run_analysis(spec, csv_bytes), settings)


def weighted_design(computed: ComputedRun, variance: Optional[str] = None):
    """The run's weighted ``analysis`` design, built exactly as ``run_spec`` builds it from the
    spec and data file (optionally with replicate weights), for tests beyond the spec's."""
    spec = copy.deepcopy(computed.spec)
    if variance is not None:
        spec["variance"] = {"method": variance}
    return build_design(validate_spec(spec), read_data(io.BytesIO(computed.csv_bytes)))


def replicate_weights(computed: ComputedRun, method: str) -> pd.DataFrame:
    """Replicate weights (``repw_1`` ...), each replicate weighted again like the full sample."""
    frame = weighted_design(computed, variance=method).replicate_weights_frame()
    frame.columns = [f"repw_{i}" for i in range(1, frame.shape[1] + 1)]
    frame.index = computed.frame.index
    return frame


def new_responses_since(run: WeightingRun) -> int:
    """Complete responses that arrived after the run (completed after it, or newer than any it
    saw), so the pages can offer to weight again; counted in SQL, without loading answers."""
    newest = run.diagnostics.get("last_response_id", max(run.response_ids, default=0))
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Response).where(
            Response.survey_id == run.survey_id,
            Response.status == ResponseStatus.COMPLETE.value,
            sa.or_(Response.id > newest, Response.completed_at > run.created_at),
        )
    ) or 0


def run_header(run: WeightingRun, survey: Survey) -> str:
    return (
        f"Weighting run {run.id} of survey {survey.slug}, created {run.created_at:%Y-%m-%d %H:%M} UTC.\n"
        f"Data: {survey.slug}-run{run.id}-data.csv ({len(run.response_ids)} respondents, sha256 {run.data_hash}).\n"
        f"Exclusion rules: {json.dumps(run.exclusion_rules, sort_keys=True)}\n"
        f"Rerun with: python -m analysis run {survey.slug}-run{run.id}-spec.yaml --out result.json"
    )
