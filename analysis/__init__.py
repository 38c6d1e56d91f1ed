"""Design-based weighting and estimation for surveys, agreeing with R's `survey` package.

A pure library on pandas, numpy, scipy and statsmodels: it never imports Flask or a
database driver. See docs/analysis.md.
"""
from analysis.design import ReplicateScheme, SurveyDesign
from analysis.diagnostics import MarginCheck, WeightingDiagnostics, weighting_diagnostics
from analysis.estimates import DomainEstimates, Estimate, mean, proportion, total
from analysis.exceptions import ConvergenceWarning, NegativeWeightsWarning, SpecError
from analysis.inference import DifferenceTest, GoodnessOfFit, WaldTest, goodness_of_fit, test_against, test_difference
from analysis.models import Coefficient, ModelResult, svyglm
from analysis.spec import load_spec, run_spec, validate_spec
from analysis.weighting import WEIGHTING_METHODS, calibrate, poststratify, rake, trim, weight

__all__ = [
    "Coefficient", "ConvergenceWarning", "DifferenceTest", "DomainEstimates", "Estimate", "GoodnessOfFit",
    "MarginCheck", "ModelResult", "NegativeWeightsWarning", "ReplicateScheme", "SpecError", "SurveyDesign",
    "WEIGHTING_METHODS", "WaldTest", "WeightingDiagnostics", "calibrate", "goodness_of_fit", "load_spec",
    "mean", "poststratify", "proportion", "rake", "run_spec", "svyglm", "test_against", "test_difference",
    "total", "trim", "validate_spec", "weight", "weighting_diagnostics",
]
