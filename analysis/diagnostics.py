"""What weighting did to a sample: design effect from weighting, effective n, margins reached."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from analysis.design import SurveyDesign


@dataclass(frozen=True)
class MarginCheck:
    """Target versus achieved share of one level of one weighting variable (or one cell), and
    the unweighted share of the rows at that level (what the weights had to correct)."""

    variable: str
    level: str
    target_share: float
    achieved_share: float
    unweighted_share: float

    @property
    def difference(self) -> float:
        return self.achieved_share - self.target_share


@dataclass(frozen=True)
class WeightingDiagnostics:
    """Summary of a weighted design.

    ``design_effect`` is Kish's design effect due to unequal weights, n Σw² / (Σw)² = 1 + CV²;
    ``effective_n`` = (Σw)² / Σw²; ``weighting_efficiency`` = effective_n / n. g-weights are
    final weights over the input weights of the first weighting step (scaled to the
    population when one was given), as the ``bounds`` of R's ``calibrate()`` see them.
    ``converged``: every step met its targets (a full-sample step that cannot raises
    ``WeightingError``, so False means some replicates, counted in ``unconverged_replicates``,
    kept their last weights, as R's do).
    """

    method: str
    n: int
    population_size: float
    design_effect: float
    effective_n: float
    weighting_efficiency: float
    weight_min: float
    weight_max: float
    g_weight_min: float
    g_weight_max: float
    iterations: Optional[int]
    converged: bool
    unconverged_replicates: int
    margins: tuple[MarginCheck, ...]

    @property
    def weight_ratio(self) -> float:
        """Largest over smallest weight."""
        return self.weight_max / self.weight_min if self.weight_min > 0 else float("inf")

    def to_frame(self) -> pd.DataFrame:
        """One row per statistic (``statistic``, ``value``)."""
        rows = {k: v for k, v in self.__dict__.items() if k != "margins"}
        rows["weight_ratio"] = self.weight_ratio
        return pd.DataFrame({"statistic": list(rows), "value": list(rows.values())})

    def margins_frame(self) -> pd.DataFrame:
        """Achieved versus target share for every weighting variable and level."""
        columns = ["variable", "level", "target_share", "achieved_share", "unweighted_share", "difference"]
        return pd.DataFrame(
            [(m.variable, m.level, m.target_share, m.achieved_share, m.unweighted_share, m.difference)
             for m in self.margins],
            columns=columns,
        )


def kish_effective_n(weights: np.ndarray) -> float:
    """Kish's effective sample size (Σw)² / Σw²: the n of a simple random sample as precise.

    Kish (1965), *Survey Sampling*, section 11.7. 0 for no weights.
    """
    w = np.asarray(weights, dtype=float)
    total_sq = float(np.square(w).sum())
    return float(w.sum()) ** 2 / total_sq if total_sq > 0 else 0.0


def kish_design_effect(weights: np.ndarray) -> float:
    """Kish's design effect of unequal weighting, n Σw² / (Σw)² = 1 + CV² = n / effective n."""
    effective_n = kish_effective_n(weights)
    return len(weights) / effective_n if effective_n else float("nan")


def weighting_diagnostics(design: "SurveyDesign") -> WeightingDiagnostics:
    """Diagnostics of ``design``'s weights and of the weighting steps that made them.

    Parameters
    ----------
    design : SurveyDesign

    Returns
    -------
    WeightingDiagnostics

    Notes
    -----
    Kish (1965), *Survey Sampling*, section 11.7: the design effect of unequal weighting.
    """
    w = design.weights
    n = len(w)
    effective_n = kish_effective_n(w)
    if design.steps:
        first = design.steps[0]
        g = w / first.input_weights
        targeted = [s for s in design.steps if s.has_targets]
        margins = targeted[-1].achieved_margins(w) if targeted else ()
        iterations = sum(s.iterations or 0 for s in design.steps)
        converged = all(s.converged for s in design.steps) and design.unconverged_replicates == 0
        method = " -> ".join(s.method for s in design.steps)
    else:
        g, margins, iterations, converged, method = np.ones(n), (), None, True, "none"
    return WeightingDiagnostics(
        method=method,
        n=n,
        population_size=float(w.sum()),
        design_effect=kish_design_effect(w),
        effective_n=effective_n,
        weighting_efficiency=effective_n / n,
        weight_min=float(w.min()),
        weight_max=float(w.max()),
        g_weight_min=float(g.min()),
        g_weight_max=float(g.max()),
        iterations=iterations,
        converged=converged,
        unconverged_replicates=design.unconverged_replicates,
        margins=tuple(margins),
    )
