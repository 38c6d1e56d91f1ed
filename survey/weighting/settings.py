"""What a pollster chooses for a weighting run: method, targets, trimming, variance; the choices offered."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from analysis.weighting import METHODS as WEIGHTING_METHODS
from survey.weighting.targets import Targets

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
