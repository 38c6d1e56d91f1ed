"""Warnings and errors of the analysis package, in one place (as statsmodels' ``sm_exceptions``)."""
from __future__ import annotations


class ConvergenceWarning(UserWarning):
    """An iterative weighting step (raking, calibration) stopped before meeting its tolerance."""


class NegativeWeightsWarning(UserWarning):
    """Linear calibration produced negative (or zero) weights for some respondents."""


class SpecError(ValueError):
    """An analysis spec file is malformed: an unknown key, a missing key or a bad value."""


class CategoryWarning(UserWarning):
    """A category names no answer of its variable: its share is 0, which is rarely what was meant."""


class WeightingError(ValueError):
    """A weighting step cannot reach its targets (R: "Calibration failed"); there is no result."""
