"""What a pollster chooses for a weighting run: method, targets, trimming, variance; the choices offered."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from analysis.weighting import METHODS as WEIGHTING_METHODS
from survey.weighting.targets import Targets, universes_differ

METHODS = {name: method.label for name, method in WEIGHTING_METHODS.items()}  # analysis's one registry, by label
CALFUNS = ("raking", "linear", "logit")
INTERVAL_METHODS = {
    "logit": "Logit (default; stays inside 0–100%)",
    "beta": "Korn–Graubard (Clopper–Pearson with effective n)",
    "xlogit": "Logit, delta method",
    "asin": "Arcsine square root",
    "mean": "Wald (estimate ± t·SE)",
}
VARIANCE_METHODS = {"linearization": "Linearization", "jk1": "Jackknife (JK1) replicate weights"}


class WeightingError(ValueError):
    """The weighting could not be done; the message is the analysis module's, for the pollster."""


#: The longest name a run may have (``WeightingRun.name``).
RUN_NAME_MAX_LENGTH = 100


class RunRequestError(WeightingError):
    """A weighting request refused before any weighting; ``problems`` maps a field of
    ``RUN_FIELDS`` to what is wrong with it, in words for the pollster."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        super().__init__("; ".join(self.problems.values()))


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
    survey_universe: Optional[str] = None  # the survey's universe when the run was made
    universe_confirmed: bool = False  # the pollster confirmed weighting to another universe's targets
    merged: dict[str, dict[str, str]] = field(default_factory=dict)  # variable -> empty level -> level it joined

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
            "universe": {
                "survey": self.survey_universe,
                "targets": self.targets.universe,
                "differ": universes_differ(self.survey_universe, self.targets.universe),
                "confirmed": self.universe_confirmed,
            },
            "merged": {variable: dict(pairs) for variable, pairs in self.merged.items()},
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
            survey_universe=(data.get("universe") or {}).get("survey"),
            universe_confirmed=bool((data.get("universe") or {}).get("confirmed")),
            merged={str(v): dict(pairs) for v, pairs in (data.get("merged") or {}).items()},
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
