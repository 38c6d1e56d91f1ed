"""Variance of estimates: Taylor linearization and replicate weights.

Linearization treats first-stage units as drawn with replacement within strata:
V = Σ_h n_h/(n_h−1) Σ_i (z_hi − z̄_h)², over unit totals z_hi of the influence values, after
every weighting step has turned the influence values into its residuals (R's ``svyrecvar``).
Replicate weights: V = scale · Σ_r rscale_r (θ_r − θ̄)², θ̄ the mean of the replicate estimates
(R's ``svrVar`` with ``mse = FALSE``).
"""
from __future__ import annotations

import weakref
from typing import Callable

import numpy as np

from analysis.design import SurveyDesign

# rows x domains up to which domain influence is materialized: beyond tiny problems the sums route
# is cheaper (a banner's 232 estimates on 100,000 rows: 3.2 s instead of 5.3 s, docs/performance.md)
DENSE_LIMIT = 20_000
_FIXED_SUMS: "weakref.WeakKeyDictionary[SurveyDesign, dict]" = weakref.WeakKeyDictionary()


def _fixed(design: SurveyDesign, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` once per design (which never changes): the full-length sums that
    :func:`domain_covariance` needs whatever the estimate, so 20 estimates do them once."""
    cache = _FIXED_SUMS.setdefault(design, {})
    if name not in cache:
        cache[name] = compute()
    return cache[name]


def weighted_influence(design: SurveyDesign, influence: np.ndarray) -> np.ndarray:
    """Influence values after the design's weighting steps (calibration residuals), in order."""
    z = influence if influence.ndim == 2 else influence[:, None]
    for step in design.steps:
        z = step.residualize(z)
    return z


def _unit_scale(design: SurveyDesign) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: the factor n_h/(n_h−1) of its stratum, and per stratum the weight of the
    centring term (s_h/n_h; 0 for a lonely unit, which ``"adjust"`` measures from zero)."""
    per_stratum = design.units_per_stratum.astype(float)
    lonely = per_stratum < 2
    if lonely.any() and design.lonely_psu == "fail":
        raise ValueError(
            f"stratum `{design.strata_levels[int(np.flatnonzero(lonely)[0])]}` has a single first-stage unit; "
            "use lonely_psu='adjust' or 'certainty', or merge strata"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(lonely, 1.0 if design.lonely_psu == "adjust" else 0.0, per_stratum / (per_stratum - 1))
        centring = np.where(lonely, 0.0, scale / per_stratum)
    return scale, centring


def domain_covariance(design: SurveyDesign, z: np.ndarray, code: np.ndarray, k: int,
                      dense_limit: int = DENSE_LIMIT) -> np.ndarray:
    """Covariance of k domain estimates whose influence value z[i] sits in column code[i]
    (code k: in no column, whatever z[i] holds).

    The same number as :func:`linearized_covariance` on the (n x k) matrix, computed from
    sums per unit, stratum, weighting cell and domain (2-D bincounts, O(n)), so a million
    rows and ten domains never make a dense (n x k) matrix. The sums run over every row,
    with a last column for code k that is dropped: the same additions in the same order as
    over the rows in a domain, without copying them out first. Small problems, and designs
    with more than one residualizing weighting step, take the dense route.
    """
    steps = [s for s in design.steps if s.residualizes]
    if design.n * k <= dense_limit or len(steps) > 1:
        dense = np.zeros((design.n, k))
        inside = np.flatnonzero(code < k)
        dense[inside, code[inside]] = z[inside]
        return linearized_covariance(design, dense)
    scale, centring = _unit_scale(design)
    row_scale = _fixed(design, "row_scale", lambda: scale[design.strata_codes])
    h = design.n_strata
    stratum_sums = _domain_table(design.strata_codes, code, z, h, k)
    step = steps[0] if steps else None
    if step is not None:
        # the step's residuals take w·(basis @ correction)[cell] off each row
        a, cells = step.output_weights, step.cells
        # one (cell, domain) index for both tables below
        cell_domain = _fixed(design, f"cell_base_{k}", lambda: cells.index * (k + 1)) + code
        basis, correction = step.domain_correction(z, cell_domain, k)
        strata_cells = _fixed(design, "strata_cells",
                              lambda: _in_basis(_table(design.strata_codes, cells.index, a, h, cells.size), basis))
        stratum_sums -= strata_cells @ correction
    if design.unit_matrix is None:
        # every row is a unit: the unit sums of squares and products are sums over rows
        cov = np.diag(np.bincount(code, weights=row_scale * z**2, minlength=k + 1)[:k])
        if step is not None:
            scaled = _fixed(design, "scaled_weights", lambda: row_scale * a)
            per_domain_cell = np.ascontiguousarray(cell_domain_sums(cell_domain, scaled * z, cells.size, k).T)
            cross = _in_basis(per_domain_cell, basis) @ correction
            gram = _fixed(design, "gram", lambda: _gram(np.bincount(cells.index, weights=row_scale * a**2,
                                                                    minlength=cells.size), basis))
            cov += (correction.T * gram if basis is None else correction.T @ gram) @ correction - cross - cross.T
    else:
        units, n_units = design.psu_codes, design.n_units
        totals = _domain_table(units, code, z, n_units, k)
        if step is not None:
            totals -= _fixed(design, "unit_cells", lambda: _unit_cells(units, n_units, cells, a, basis)) @ correction
        cov = (totals * scale[design.unit_stratum][:, None]).T @ totals
    return cov - (stratum_sums * centring[:, None]).T @ stratum_sums


def cell_domain_sums(cell_domain: np.ndarray, values: np.ndarray, n_cells: int, k: int) -> np.ndarray:
    """Sums of ``values`` per (cell, domain), a (cells x k) table, from the index
    ``cell * (k + 1) + domain`` of each row (domain k: in none, left out)."""
    return _trimmed(np.bincount(cell_domain, weights=values, minlength=n_cells * (k + 1)).reshape(n_cells, k + 1), k)


def _domain_table(rows: np.ndarray, code: np.ndarray, values: np.ndarray, n_rows: int, k: int) -> np.ndarray:
    """(n_rows x k) sums of ``values`` by (row code, domain); domain k (in none) left out."""
    return _trimmed(_table(rows, code, values, n_rows, k + 1), k)


def _trimmed(table: np.ndarray, k: int) -> np.ndarray:
    """The first k columns, contiguous as a table of k columns would be (BLAS sees the same array)."""
    return np.ascontiguousarray(table[:, :k])


def _in_basis(table: np.ndarray, basis) -> np.ndarray:
    """``table @ basis`` for a (rows x cells) table and a sparse basis (None: the cells)."""
    return table if basis is None else np.asarray(basis.T @ table.T).T


def _gram(per_cell: np.ndarray, basis) -> np.ndarray:
    """Bᵀ diag(per_cell) B, or per_cell itself (the diagonal) when the basis is the cells."""
    return per_cell if basis is None else (basis.T @ basis.multiply(per_cell[:, None])).toarray()


def _unit_cells(units: np.ndarray, n_units: int, cells, a: np.ndarray, basis):
    """Sums of the weights per (unit, cell), sparse, in the step's basis."""
    import scipy.sparse as sp  # clustered designs only

    table = sp.csr_matrix((a, (units, cells.index)), shape=(n_units, cells.size))
    return table if basis is None else (table @ basis).toarray()


def _table(rows: np.ndarray, columns: np.ndarray, values: np.ndarray, n_rows: int, n_columns: int) -> np.ndarray:
    """Dense (n_rows x n_columns) sums of ``values`` by (row, column) code: a 2-D bincount
    (with one row code, as an unstratified design's strata, the columns alone)."""
    flat = columns if n_rows == 1 else rows.astype(np.int64, copy=False) * n_columns + columns
    return np.bincount(flat, weights=values, minlength=n_rows * n_columns).reshape(n_rows, n_columns)


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
    scale, _ = _unit_scale(design)
    centre = np.where((per_stratum < 2)[:, None], 0.0, means)
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
