"""A weighting request, from the weighting form or the API alike, checked in one place
(``plan_run``) so both refuse the same things with the same words."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from survey.models import Survey
from survey.responses.dataset import load_responses
from survey.responses.quality import FLAG_LABELS, ExclusionRules
from survey.weighting.runs import weighting_variables
from survey.weighting.settings import (
    CALFUNS,
    METHODS,
    RUN_NAME_MAX_LENGTH,
    VARIANCE_METHODS,
    RunRequestError,
    WeightingError,
    WeightingSettings,
)
from survey.weighting.spec import analysis_frame
from survey.weighting.target_sets import default_target_set, level_labels, target_sets
from survey.weighting.targets import universes_differ

#: The fields of a weighting request, as the form posts them and the API's JSON names them.
RUN_FIELDS = ("name", "target_set", "variables", "merge", "confirm_universe", "method", "poststratify_by", "calfun",
              "bounds", "trim", "variance", "speeder_share", "exclude", "exclude_simulated")


def level_counts(survey: Survey, rules: Optional[ExclusionRules] = None) -> tuple[int, dict[str, dict[str, int]]]:
    """Included complete responses, and how many of them gave each level of each weighting variable."""
    frame = analysis_frame(load_responses(survey, rules), weighting_variables(survey))
    counts = {
        variable: {str(level): int(n) for level, n in frame[variable].astype(str).value_counts().items()}
        for variable in weighting_variables(survey) if variable in frame.columns
    }
    return len(frame), counts


@dataclass(frozen=True)
class RunPlan:
    """A checked weighting request: what ``create_run`` needs."""

    settings: WeightingSettings
    rules: ExclusionRules
    name: Optional[str]


def _number(value: Any) -> Optional[float]:
    """A number from a form's text or the API's JSON; None when left empty; ValueError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _pair(value: Any, what: str, problems: dict[str, str], key: str) -> Optional[tuple[float, float]]:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        problems[key] = f"Give {what}s as a lower and an upper value, or neither."
        return None
    try:
        low, high = _number(value[0]), _number(value[1])
    except (TypeError, ValueError):
        problems[key] = f"The {what}s must be numbers, not {value[0]!r} and {value[1]!r}."
        return None
    if (low is None) != (high is None):
        problems[key] = f"Give both a lower and an upper {what}, or neither."
        return None
    if low is not None and not 0 < low < high:
        problems[key] = f"The lower {what} must be above 0 and below the upper one ({low:g} and {high:g})."
        return None
    return None if low is None else (low, high)


def _choice(value: Any, allowed: Sequence[str], default: str, what: str, problems: dict[str, str], key: str) -> str:
    if value is None or value == "":
        return default
    if value not in allowed:
        problems[key] = f"Choose {what} among {', '.join(allowed)}, not {value!r}."
        return default
    return value


def _codes(value: Any, key: str, problems: dict[str, str]) -> Optional[list[str]]:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(isinstance(v, str) for v in value):
        problems[key] = f"{key} must be a list of codes, not {value!r}."
        return None
    return list(value)


def plan_run(survey: Survey, choices: Mapping[str, Any]) -> RunPlan:
    """Check a weighting request, from the weighting form or the API alike, and turn it into settings.

    ``choices`` holds any of ``RUN_FIELDS`` (a missing field takes the form's default):
    ``target_set`` (a key of ``TARGET_SETS``), ``variables`` (the target variables to weight
    by; default: all but the optional ones), ``merge`` (``{variable: {empty level: level}}``),
    ``confirm_universe`` (required when the targets describe another universe than the
    survey's), the method's options, and the exclusion rules.

    Raises
    ------
    RunRequestError
        Naming each field at fault. A level of a chosen variable that no included respondent
        gave is refused with the two ways out: merge it into another level for this run, or
        leave the variable out.
    """
    problems: dict[str, str] = {}
    unknown = sorted(set(choices) - set(RUN_FIELDS))
    if unknown:
        problems["fields"] = f"Unknown field(s) {', '.join(unknown)}; the fields are {', '.join(RUN_FIELDS)}."
    name = choices.get("name")
    if name is not None and not isinstance(name, str):
        problems["name"] = "The run's name must be text."
        name = None
    name = " ".join((name or "").split()) or None
    if name and len(name) > RUN_NAME_MAX_LENGTH:
        problems["name"] = f"Give the run a name of at most {RUN_NAME_MAX_LENGTH} characters (this one has {len(name)})."

    sets = target_sets(survey)
    set_key = _choice(choices.get("target_set"), list(sets), default_target_set(survey, sets), "a target set", problems,
                      "target_set")
    targets = sets[set_key]
    variables = _codes(choices.get("variables"), "variables", problems)
    if variables is None:
        variables = targets.default_variables
    missing = [v for v in variables if v not in targets.margins]
    if missing:
        problems["variables"] = (f"The target set {targets.name!r} has no target for {', '.join(missing)}; "
                                 f"choose among {', '.join(targets.margins)}.")
    elif not variables:
        problems["variables"] = "Choose at least one target variable to weight by."
    merges = choices.get("merge") or {}
    if not isinstance(merges, Mapping) or not all(isinstance(pairs, Mapping) for pairs in merges.values()):
        problems["merge"] = "merge must map a variable to {empty level: level to merge it into}."
        merges = {}
    for variable, pairs in merges.items():
        for level, into in pairs.items():
            levels = targets.margins.get(variable, {})
            if variable not in variables or level not in levels or into not in levels or into == level:
                problems[f"merge:{variable}"] = (
                    f"Cannot merge {variable} = {level!r} into {into!r}: merge a level of a chosen variable into "
                    f"another of its levels ({', '.join(levels) or 'none'})."
                )
    confirmed = choices.get("confirm_universe") in (True, "y", "yes", "on", "true", "1")
    if universes_differ(survey.universe, targets.universe) and not confirmed:
        problems["confirm_universe"] = (
            f"These targets describe {targets.universe}, but this survey samples {survey.universe}: weights would make "
            "the sample look like another population. Confirm that you mean it, or choose targets for "
            f"{survey.universe}."
        )

    try:
        speeder_share = _number(choices.get("speeder_share"))
    except (TypeError, ValueError):
        speeder_share = None
        problems["speeder_share"] = "Give the speeder share as a number between 0.01 and 0.99."
    if speeder_share is not None and not 0.01 <= speeder_share <= 0.99:
        problems["speeder_share"] = "Give a share between 0.01 and 0.99."
    exclude = _codes(choices.get("exclude"), "exclude", problems)
    unknown_flags = sorted(set(exclude or ()) - set(FLAG_LABELS))
    if unknown_flags:
        problems["exclude"] = f"Unknown quality flag(s) {', '.join(unknown_flags)}; the flags are {', '.join(FLAG_LABELS)}."
    rules = ExclusionRules(
        speeder_share=speeder_share if speeder_share is not None and "speeder_share" not in problems else ExclusionRules().speeder_share,
        exclude=tuple(exclude) if exclude is not None and not unknown_flags else ExclusionRules().exclude,
        exclude_simulated=choices.get("exclude_simulated") in (True, "y", "yes", "on", "true", "1"),
    )
    method = _choice(choices.get("method"), list(METHODS), "rake", "a method", problems, "method")
    bounds = _pair(choices.get("bounds"), "bound", problems, "bounds") if method == "calibrate" else None
    trim = _pair(choices.get("trim"), "trimming limit", problems, "trim")
    calfun = _choice(choices.get("calfun"), list(CALFUNS), "raking", "a calibration distance", problems, "calfun")
    variance = _choice(choices.get("variance"), list(VARIANCE_METHODS), "linearization", "a variance method", problems,
                       "variance")
    if problems:
        raise RunRequestError(problems)

    n, counts = level_counts(survey, rules)
    labels = level_labels(survey)
    for variable in variables:
        for level in targets.margins[variable]:
            given = counts.get(variable, {}).get(level, 0)
            if given and level in merges.get(variable, {}):
                problems[f"merge:{variable}:{level}"] = (
                    f"{targets.label(variable)} = {labels.get(variable, {}).get(level, level)} has {given} respondents, "
                    "so it keeps its own target; only a level nobody gave can be merged."
                )
            elif n and not given and level not in merges.get(variable, {}):
                problems[f"merge:{variable}:{level}"] = (
                    f"{targets.label(variable)} = {labels.get(variable, {}).get(level, level)} ({level}) has no respondents "
                    f"among the {n} included, so nothing can be weighted to its target: merge it into another level "
                    f"for this run, or leave {targets.label(variable)} out."
                )
    if problems:
        raise RunRequestError(problems)
    chosen = targets.only(variables)
    try:
        settings = WeightingSettings(
            targets=chosen.merged({v: pairs for v, pairs in merges.items() if v in chosen.margins}),
            method=method,
            poststratify_by=choices.get("poststratify_by") or None if method == "poststratify" else None,
            calfun=calfun,
            bounds=bounds,
            trim=trim,
            variance=variance,
            survey_universe=survey.universe,
            universe_confirmed=confirmed,
            merged={v: dict(pairs) for v, pairs in merges.items() if pairs},
        )
    except WeightingError as error:
        raise RunRequestError({"poststratify_by" if method == "poststratify" else "method": str(error)}) from None
    return RunPlan(settings=settings, rules=rules, name=name)
