"""Design-based weighting and estimation for surveys, agreeing with R's `survey` package.

A pure library on pandas, numpy, scipy and statsmodels: it never imports Flask or a
database driver. See docs/analysis.md.

The public names load on first use (PEP 562 ``__getattr__``): ``import analysis`` costs
nothing, and statsmodels and ``scipy.stats`` load only when a model, a test or an interval
that needs them is asked for, so ``python -m analysis run`` pays only for what its spec does.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Any

_EXPORTS = {
    "analysis.design": ("ReplicateScheme", "SurveyDesign"),
    "analysis.diagnostics": ("MarginCheck", "WeightingDiagnostics", "kish_design_effect", "kish_effective_n",
                             "weighting_diagnostics"),
    "analysis.estimates": ("DomainEstimates", "Estimate", "mean", "proportion", "quantile", "ratio", "total"),
    "analysis.exceptions": ("CategoryWarning", "ConvergenceWarning", "NegativeWeightsWarning", "SpecError",
                            "WeightingError"),
    "analysis.inference": ("DifferenceTest", "GoodnessOfFit", "IndependenceTest", "PairDifference", "PairwiseTests",
                           "WaldTest", "goodness_of_fit", "independence", "pairwise", "test_against",
                           "test_difference"),
    "analysis.models": ("Coefficient", "ModelResult", "svyglm"),
    "analysis.spec": ("SpecResult", "load_spec", "run_spec", "validate_spec"),
    "analysis.weighting": ("METHODS", "WeightingMethod", "calibrate", "poststratify", "rake", "trim"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:  # a submodule (``analysis.export``) is imported on first use as well
        if name.startswith("__") or importlib.util.find_spec(f"{__name__}.{name}") is None:
            raise AttributeError(f"module 'analysis' has no attribute {name!r}")
        return importlib.import_module(f"{__name__}.{name}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

