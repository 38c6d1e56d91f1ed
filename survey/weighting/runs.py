"""Weighting runs: the pollster's choices -> an ``analysis`` spec -> weights, diagnostics, tables.

Every number the site shows comes from ``analysis.spec.run`` applied to a spec this module
writes and to the run's frame, whose data file (``spec.data_csv``) is byte for byte the one a
pollster downloads beside the spec, so ``python -m analysis run`` on the downloads gives the
same numbers.

A run (``WeightingRun``) stores the settings (``settings``), the exclusion rules, the exact
respondents used and the hash of their data file (``spec``). Results are computed through
``cache`` and summarised by ``diagnostics``.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional

import pandas as pd
import sqlalchemy as sa

from analysis.spec import SpecResult, build_design, validate_spec
from survey.extensions import db
from survey.models import Pollster, Response, ResponseStatus, Survey, TargetSet, WeightingRun
from survey.questionnaires.model import Net
from survey.questionnaires.sync import questionnaire_of
from survey.responses.dataset import ResponseData, load_responses
from survey.responses.quality import ExclusionRules
from survey.weighting.cache import run_analysis
from survey.weighting.diagnostics import summary as diagnostics_summary
from survey.weighting.settings import (
    INTERVAL_METHODS,
    RUN_NAME_MAX_LENGTH,
    RunRequestError,
    WeightingError,
    WeightingSettings,
)
from survey.weighting.spec import ID_COLUMN, analysis_frame, build_spec, data_csv, estimate_specs
from survey.weighting.targets import Targets


def weighting_variables(survey: Survey) -> dict[str, str]:
    """Weighting variable -> the question code that measures it."""
    return {q.weighting_variable: q.code for q in questionnaire_of(survey).questions if q.weighting_variable}


def save_targets(survey: Survey, targets: Targets, pollster: Optional[Pollster]) -> TargetSet:
    row = TargetSet(survey_id=survey.id, targets=targets.to_dict(), created_by_id=pollster.id if pollster else None)
    db.session.add(row)
    return row


@dataclass
class ComputedRun:
    """A run's frame, spec and ``analysis`` result, ready for pages, the API and downloads."""

    run: WeightingRun
    data: ResponseData
    frame: pd.DataFrame
    spec: dict[str, Any]
    result: SpecResult
    settings: WeightingSettings

    @cached_property
    def csv_bytes(self) -> bytes:
        """The run's data file, as downloaded beside its spec (and hashed in ``run.data_hash``)."""
        return data_csv(self.frame)

    @property
    def data_matches(self) -> bool:
        """False if a response used by the run was changed since: the numbers may then differ.

        The frame's hash settles it when it matches (no data file written); a run made before
        it was kept, or one whose frame hashes otherwise (a pandas that hashes differently),
        is compared by its data file's SHA-256."""
        if self.run.frame_hash is not None and frame_hash(self.frame) == self.run.frame_hash:
            return True
        return hashlib.sha256(self.csv_bytes).hexdigest() == self.run.data_hash


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and types and of its rows' ``hash_pandas_object``
    hashes: a change to any cell, column or row changes it, as it would change the data file,
    for a fraction of the cost of writing that file as CSV."""
    digest = hashlib.sha256(json.dumps([[str(name), str(dtype)] for name, dtype in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def create_run(
    survey: Survey, settings: WeightingSettings, rules: ExclusionRules, pollster: Optional[Pollster],
    name: Optional[str] = None, methodology: Optional[dict[str, Any]] = None,
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
    spec = build_spec(settings, len(frame), [])
    summary = diagnostics_summary(run_analysis(spec, frame))
    # every complete response seen, excluded ones too, so later pages count only newer ones as new
    summary["last_response_id"] = int(data.answers.index.max())
    run = WeightingRun(
        survey_id=survey.id,
        settings=settings.to_dict(),
        exclusion_rules=rules.to_dict(),
        response_ids=frame[ID_COLUMN].astype("int64").tolist(),
        data_hash=hashlib.sha256(data_csv(frame)).hexdigest(),
        frame_hash=frame_hash(frame),
        diagnostics=summary,
        methodology=methodology,
        created_by_id=pollster.id if pollster else None,
        name=name,
    )
    db.session.add(run)
    return run


def check_targets(survey: Survey, targets: Targets) -> None:
    """Raise ``WeightingError`` with the analysis module's message if ``targets`` cannot weight
    this survey's responses (shares that do not sum to 1, a level given but without a target, ...).

    A target level nobody gave yet is not refused here: early in fieldwork that is normal, and
    the run itself offers to merge the level or leave the variable out (``plan_run``)."""
    if not targets.margins:
        raise WeightingError("the targets name no variable to weight by")
    unknown = sorted(set(targets.margins) - set(weighting_variables(survey)))
    if unknown:
        raise WeightingError(
            f"no question of this survey measures {', '.join(unknown)}; the weighting variables are "
            f"{', '.join(weighting_variables(survey)) or 'none'}"
        )
    data = analysis_frame(load_responses(survey), weighting_variables(survey))
    frame = pd.concat([data[list(targets.margins)], _placeholder_frame(targets)], ignore_index=True)
    run_analysis(build_spec(WeightingSettings(targets=targets), len(frame), []), frame)


def _placeholder_frame(targets: Targets) -> pd.DataFrame:
    """Before any response: every combination of levels once, so the analysis can still check the shares
    (raking such a frame always converges; fewer rows can contradict the margins, which is an error)."""
    return pd.DataFrame(list(itertools.product(*map(list, targets.margins.values()))), columns=list(targets.margins))


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


# --------------------------------------------------------------------------- name, lock, publication


class RunLockedError(WeightingError):
    """A change to a locked run."""


def _unlocked(run: WeightingRun, change: str) -> None:
    if run.locked:
        raise RunLockedError(
            f"{run.title} is locked{' because it is published' if run.published else ''}, so it cannot be {change}; "
            "make a new run instead."
        )


def rename_run(run: WeightingRun, name: str) -> None:
    _unlocked(run, "renamed")
    name = " ".join(name.split())
    if len(name) > RUN_NAME_MAX_LENGTH:
        raise RunRequestError({"name": f"Give the run a name of at most {RUN_NAME_MAX_LENGTH} characters."})
    run.name = name or None


def lock_run(run: WeightingRun) -> None:
    """Lock for good: a locked run's numbers stay reproducible and cannot be renamed, rerun or deleted."""
    run.locked = True


def delete_run(run: WeightingRun) -> None:
    _unlocked(run, "deleted")
    db.session.delete(run)


def check_rerun(run: WeightingRun) -> None:
    _unlocked(run, "rerun")


def publish_run(run: WeightingRun) -> None:
    """Make ``run`` the survey's published run (locking it) in place of any other; the caller commits."""
    db.session.execute(
        sa.update(WeightingRun)
        .where(WeightingRun.survey_id == run.survey_id, WeightingRun.id != run.id, WeightingRun.published.is_(True))
        .values(published=False)
    )
    db.session.flush()
    run.published = True
    run.locked = True


def default_run(survey: Survey) -> Optional[WeightingRun]:
    """The run that results and the API show when none is named: the published one (None until
    a run is published, so a test run never changes what subscribers read)."""
    return db.session.scalar(
        sa.select(WeightingRun).where(WeightingRun.survey_id == survey.id, WeightingRun.published.is_(True))
    )


def compute(
    run: WeightingRun,
    interval: str = "logit",
    by: Optional[str] = None,
    estimates: bool = True,
    nets: Optional[Mapping[str, Sequence[Net]]] = None,
) -> ComputedRun:
    """The run's spec (with toplines, and a crosstab ``by`` a variable) on exactly its respondents;
    ``nets`` (question code -> nets) adds nets a pollster made on the results page."""
    if interval not in INTERVAL_METHODS:
        raise WeightingError(f"interval method must be one of {', '.join(INTERVAL_METHODS)}, not {interval!r}")
    survey = db.session.get(Survey, run.survey_id)
    settings = WeightingSettings.from_dict(run.settings)
    rules = ExclusionRules.from_dict(run.exclusion_rules)
    data = load_responses(survey, rules)
    if nets:
        data.questions = [q.with_nets(nets.get(q.code, ())) for q in data.questions]
    used = data.answers.index.isin(run.response_ids)
    data.excluded = pd.Series(~used, index=data.answers.index)
    frame = analysis_frame(data, weighting_variables(survey))
    if by is not None and by not in frame.columns:
        raise WeightingError(f"cannot cross by {by!r}: it is not a question of this survey")
    specs = estimate_specs(data.questions, interval, by) if estimates else []
    spec = build_spec(settings, len(frame), specs, data_file=f"{survey.slug}-run{run.id}-data.csv")
    return ComputedRun(run, data, frame, spec, run_analysis(spec, frame), settings)


def weighted_design(computed: ComputedRun, variance: Optional[str] = None):
    """The run's weighted ``analysis`` design, built exactly as ``analysis.spec.run`` builds it
    from the spec and frame (optionally with replicate weights), for tests beyond the spec's."""
    spec = copy.deepcopy(computed.spec)
    if variance is not None:
        spec["variance"] = {"method": variance}
    return build_design(validate_spec(spec), computed.frame)


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
