"""Design-based weighting and estimation for surveys, agreeing with R's `survey` package.

A pure library on pandas, numpy, scipy and statsmodels: it never imports Flask or a
database driver. See docs/analysis.md.
"""
from analysis.design import ReplicateScheme, SurveyDesign
from analysis.diagnostics import (
    MarginCheck, WeightingDiagnostics, kish_design_effect, kish_effective_n, weighting_diagnostics,
)
from analysis.estimates import DomainEstimates, Estimate, mean, proportion, quantile, ratio, total
from analysis.exceptions import CategoryWarning, ConvergenceWarning, NegativeWeightsWarning, SpecError, WeightingError
from analysis.inference import (
    DifferenceTest, GoodnessOfFit, IndependenceTest, PairDifference, PairwiseTests, WaldTest, goodness_of_fit,
    independence, pairwise, test_against, test_difference,
)
from analysis.models import Coefficient, ModelResult, svyglm
from analysis.spec import load_spec, run_spec, validate_spec
from analysis.weighting import METHODS, WeightingMethod, calibrate, poststratify, rake, trim

__all__ = [
    "CategoryWarning", "Coefficient", "ConvergenceWarning", "DifferenceTest", "DomainEstimates", "Estimate",
    "GoodnessOfFit", "IndependenceTest", "METHODS", "MarginCheck", "ModelResult", "NegativeWeightsWarning",
    "PairDifference", "PairwiseTests", "ReplicateScheme", "SpecError", "SurveyDesign", "WaldTest",
    "WeightingDiagnostics", "WeightingError", "WeightingMethod", "calibrate", "goodness_of_fit", "independence",
    "kish_design_effect", "kish_effective_n",
    "load_spec", "mean", "pairwise", "poststratify", "proportion", "quantile", "rake", "ratio", "run_spec", "svyglm",
    "test_against", "test_difference", "total", "trim", "validate_spec", "weighting_diagnostics",
]
