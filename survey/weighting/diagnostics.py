"""What a run's weights did: Kish's design effect and effective n (from ``analysis``), margins reached, convergence."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import SurveyDesign
from analysis.diagnostics import weighting_diagnostics
from survey.weighting.settings import WeightingError, WeightingSettings


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
    n = len(weights)  # at least 1: the analysis refuses data without rows
    zero = int((weights <= 0).sum())
    if zero:
        raise WeightingError(
            f"the weighting gave {zero} of {n} respondents a weight of 0 ({'; '.join(result.get('warnings', [])) or 'the targets cannot all be met'}): "
            "with this few respondents per level, merge sparse levels or leave a variable out"
        )
    weighted = weighting_diagnostics(SurveyDesign(pd.DataFrame(index=range(n)), weights=weights))
    total = weighted.population_size
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
                    unweighted=float(hit.mean()),
                    achieved=float(weights[hit].sum() / total),
                )
            )
    caught = list(result.get("warnings", []))
    return Diagnostics(
        n=n,
        sum_of_weights=total,
        min_weight=weighted.weight_min,
        max_weight=weighted.weight_max,
        design_effect=weighted.design_effect,
        effective_n=weighted.effective_n,
        converged=result["converged"],
        warnings=caught,
        margins=checks,
    )
