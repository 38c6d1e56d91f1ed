"""Variance of estimates: Taylor linearization and replicate weights.

Linearization treats first-stage units as drawn with replacement within strata:
V = Σ_h n_h/(n_h−1) Σ_i (z_hi − z̄_h)², over unit totals z_hi of the influence values, after
every weighting step has turned the influence values into its residuals (R's ``svyrecvar``).
Replicate weights: V = scale · Σ_r rscale_r (θ_r − θ̄)², θ̄ the mean of the replicate estimates
(R's ``svrVar`` with ``mse = FALSE``).
"""
from __future__ import annotations

import numpy as np

from analysis.design import SurveyDesign


def weighted_influence(design: SurveyDesign, influence: np.ndarray) -> np.ndarray:
    """Influence values after the design's weighting steps (calibration residuals), in order."""
    z = influence if influence.ndim == 2 else influence[:, None]
    for step in design.steps:
        z = step.residualize(z)
    return z


def linearized_covariance(design: SurveyDesign, influence: np.ndarray) -> np.ndarray:
    """Covariance matrix of estimates whose influence values are the columns of ``influence``.

    Parameters
    ----------
    design : SurveyDesign
    influence : ndarray, (n,) or (n, k)
        Influence values under the final weights (zero for rows outside a domain).

    Returns
    -------
    ndarray, (k, k)

    Notes
    -----
    Matches R's ``svyrecvar`` (one stage, with-replacement units, ``nest = TRUE``); a stratum
    with one unit follows ``design.lonely_psu`` (``"adjust"`` measures it from zero, as
    survey 4.1's ``onestrat``).
    """
    z = weighted_influence(design, influence)
    totals = z if design.unit_matrix is None else np.asarray(design.unit_matrix @ z)
    per_stratum = design.units_per_stratum.astype(float)
    if design.stratum_matrix is None:
        means = totals.mean(axis=0)[None, :]
        stratum = np.zeros(len(totals), dtype=np.int64)
    else:
        means = np.asarray(design.stratum_matrix @ totals) / per_stratum[:, None]
        stratum = design.unit_stratum
    lonely = per_stratum < 2
    if lonely.any() and design.lonely_psu == "fail":
        raise ValueError(
            f"stratum {int(np.flatnonzero(lonely)[0])} has a single first-stage unit; "
            "use lonely_psu='adjust' or 'certainty', or merge strata"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(lonely, 1.0 if design.lonely_psu == "adjust" else 0.0, per_stratum / (per_stratum - 1))
    centre = np.where(lonely[:, None], 0.0, means)
    centered = totals - centre[stratum]
    return (centered * scale[stratum][:, None]).T @ centered


def replicate_covariance(design: SurveyDesign, replicate_estimates: np.ndarray) -> np.ndarray:
    """Covariance from replicate estimates (rows: replicates, columns: estimates).

    Notes
    -----
    Matches R's ``svrVar(thetas, scale, rscales, mse = FALSE)``.
    """
    scheme = design.replicates
    if scheme is None:
        raise ValueError("this design has no replicate weights")
    thetas = replicate_estimates if replicate_estimates.ndim == 2 else replicate_estimates[:, None]
    centered = thetas - thetas.mean(axis=0)
    return scheme.scale * (centered * scheme.rscales[:, None]).T @ centered
