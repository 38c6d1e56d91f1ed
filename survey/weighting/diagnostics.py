"""What a run's weights did, as stored with the run and shown on its pages: ``analysis``'s
``WeightingDiagnostics`` (Kish's design effect, effective n, margins reached, convergence)
and the warnings of the analysis, as one JSON-able summary."""
from __future__ import annotations

from typing import Any

from analysis.spec import SpecResult
from survey.weighting.settings import WeightingError


def summary(result: SpecResult) -> dict[str, Any]:
    """The run's stored ``diagnostics``; raises ``WeightingError`` if a respondent got no weight."""
    weights, d = result.weights, result.diagnostics
    zero = int((weights <= 0).sum())
    if zero:
        raise WeightingError(
            f"the weighting gave {zero} of {d.n} respondents a weight of 0 ({'; '.join(result.warnings) or 'the targets cannot all be met'}): "
            "with this few respondents per level, merge sparse levels or leave a variable out"
        )
    return {
        "n": d.n,
        "sum_of_weights": d.population_size,
        "min_weight": d.weight_min,
        "max_weight": d.weight_max,
        "design_effect": d.design_effect,
        "effective_n": d.effective_n,
        "converged": d.converged,
        "warnings": list(result.warnings),
        "max_margin_gap": max((abs(m.difference) for m in d.margins), default=0.0),
        "margins": [
            {"variable": m.variable, "level": m.level, "target": m.target_share, "unweighted": m.unweighted_share,
             "achieved": m.achieved_share}
            for m in d.margins
        ],
    }
