"""Weighting: raking, post-stratification, calibration and trimming.

Every method has the same shape, ``method(design, targets, *, population=None, ...)``, and
returns a NEW design whose last step remembers how it was weighted. A step knows how to

* ``reweight`` a matrix of replicate weights (each column weighted again, so replicate
  variances include the weighting), and
* ``residualize`` influence values for linearized variances (calibration residuals).

All iterations run on the table of distinct cells of the weighting variables (rows with the
same levels share one g-weight), never on respondents: raking a million rows costs what
raking a few hundred cells does.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Literal, Optional, Union

import numpy as np
import pandas as pd
from scipy import special

from analysis._checks import check_choice, column
from analysis._text import r_text, text_codes
from analysis.design import CELL_SEPARATOR, SurveyDesign
from analysis.diagnostics import MarginCheck
from analysis.exceptions import ConvergenceWarning, NegativeWeightsWarning, WeightingError
from analysis.variance import cell_domain_sums

if TYPE_CHECKING:
    import scipy.sparse as sp

logger = logging.getLogger(__name__)

Calfun = Literal["linear", "raking", "logit"]
CALFUNS = ("linear", "raking", "logit")
SHARE_TOLERANCE = 1e-6
BINCOUNT_COLUMNS = 16  # up to this many columns, per-cell sums by bincount beat a sparse product

TargetMargins = Mapping[str, Mapping[object, float]]


# --------------------------------------------------------------------------------------
# cells: the distinct combinations of the weighting variables
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Cells:
    """Distinct combinations of weighting variables present in the data.

    ``index[i]`` is the cell of row i; ``codes[c, v]`` the level (position in
    ``levels[v]``) of variable v in cell c.
    """

    variables: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    index: np.ndarray
    codes: np.ndarray

    @property
    def size(self) -> int:
        return self.codes.shape[0]

    @cached_property
    def summing_matrix(self) -> sp.csr_matrix:
        """Sparse (cells x rows) indicator: ``summing_matrix @ values`` sums rows per cell."""
        import scipy.sparse as sp  # on first use: plain designs never need it

        n = len(self.index)
        return sp.csr_matrix((np.ones(n), (self.index, np.arange(n))), shape=(self.size, n))

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-cell sums of a vector or of every column of a matrix: bincounts for a few columns
        (the same additions in the same order as the sparse product), the sparse product for
        replicate weights."""
        if values.ndim == 1:
            return np.bincount(self.index, weights=values, minlength=self.size)
        if values.shape[1] <= BINCOUNT_COLUMNS:
            return np.column_stack([np.bincount(self.index, weights=c, minlength=self.size) for c in values.T])
        return np.asarray(self.summing_matrix @ values)

    @cached_property
    def level_matrices(self) -> tuple[sp.csr_matrix, ...]:
        """Per variable, a sparse (levels x cells) indicator summing cells into levels."""
        import scipy.sparse as sp

        cells = np.arange(self.size)
        return tuple(
            sp.csr_matrix((np.ones(self.size), (self.codes[:, v], cells)), shape=(len(levels), self.size))
            for v, levels in enumerate(self.levels)
        )

    def level_sums(self, cell_values: np.ndarray, v: int) -> np.ndarray:
        """Sums per level of variable ``v`` of per-cell values (vector or cells x columns)."""
        if cell_values.ndim == 1:
            return np.bincount(self.codes[:, v], weights=cell_values, minlength=len(self.levels[v]))
        return np.asarray(self.level_matrices[v] @ cell_values)


def _level_codes(series: pd.Series, variable: str, levels: Sequence[str]) -> np.ndarray:
    missing = int(series.isna().sum())
    if missing:
        raise ValueError(
            f"weighting variable `{variable}` has {missing} missing values; "
            "give them a level with a target or impute them before weighting"
        )
    # Hash every row once (factorize), then match only the few distinct values to the levels:
    # pd.Categorical(values, categories=levels) is 5-10x slower on a million text answers.
    row_codes, present, _ = text_codes(series)
    position = pd.Index(list(levels)).get_indexer(present).astype(np.int64)
    unmatched = np.flatnonzero(position < 0)
    if len(unmatched):
        name, code = min((str(present[u]), u) for u in unmatched)
        raise ValueError(
            f"`{variable}` = `{name}` has {int((row_codes == code).sum())} "
            f"respondents but no target; add it to the targets for `{variable}`"
        )
    return position[row_codes]


def make_cells(data: pd.DataFrame, levels: Mapping[str, Sequence[str]]) -> Cells:
    """Cells of ``data`` for the weighting variables and their target levels (in order)."""
    variables = tuple(levels)
    per_variable = [
        _level_codes(column(data, v, "weighting variable"), v, levels[v]) for v in variables
    ]
    sizes = [len(levels[v]) for v in variables]
    key = np.zeros(len(data), dtype=np.int64)
    for codes, size in zip(per_variable, sizes):
        key = key * size + codes
    n_keys = int(np.prod(sizes, dtype=np.float64))
    if n_keys <= 50_000_000:
        present = np.bincount(key, minlength=n_keys) > 0
        cell_of_key = np.cumsum(present) - 1
        index = cell_of_key[key]
        keys = np.flatnonzero(present)
    else:
        keys, index = np.unique(key, return_inverse=True)
    codes = np.empty((len(keys), len(variables)), dtype=np.int64)
    rest = keys.copy()
    for v in range(len(variables) - 1, -1, -1):
        codes[:, v] = rest % sizes[v]
        rest //= sizes[v]
    return Cells(variables, tuple(tuple(levels[v]) for v in variables), index.astype(np.int64), codes)


def _target_shares(variable: str, shares: Mapping[object, float]) -> tuple[tuple[str, ...], np.ndarray]:
    """Validated (levels, shares) of one variable; shares scaled to sum exactly 1."""
    if not isinstance(shares, Mapping) or not shares:
        raise ValueError(f"targets for `{variable}` must be a mapping of level -> share")
    levels = tuple(r_text(level) for level in shares)
    try:
        values = np.array([float(s) for s in shares.values()])
    except (TypeError, ValueError):
        raise ValueError(f"target shares for `{variable}` must be numbers") from None
    for level, value in zip(levels, values):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"target share for `{variable}` = `{level}` is {value:g}; shares must be positive "
                "(merge or drop a level with no population)"
            )
    total = float(values.sum())
    if abs(total - 1) > SHARE_TOLERANCE:
        raise ValueError(f"target shares for `{variable}` sum to {total:.6g}, not 1")
    return levels, values / total


def _check_levels_present(cells: Cells, variable_index: int) -> None:
    counts = np.bincount(cells.codes[:, variable_index], minlength=len(cells.levels[variable_index]))
    for level, count in zip(cells.levels[variable_index], counts):
        if count == 0:
            raise WeightingError(
                f"target level `{level}` of `{cells.variables[variable_index]}` has no respondents, so no "
                "weights can reach its share; drop it or merge it with a neighbouring level"
            )


def _scaled_inputs(design: SurveyDesign, population: Optional[float]) -> tuple[float, float]:
    """(population total N, factor applied to the input weights)."""
    current = float(design.weights.sum())
    if population is None:
        return current, 1.0
    population = float(population)
    if not np.isfinite(population) or population <= 0:
        raise ValueError(f"population={population!r} must be a positive number")
    return population, population / current


# --------------------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class WeightingStep:
    """One weighting step: its input and output weights and how it was done."""

    method: str
    input_weights: np.ndarray
    output_weights: np.ndarray
    iterations: Optional[int]
    converged: bool

    has_targets = False
    residualizes = False
    recounts_degf = False  # R counts the replicate degrees of freedom again after this step

    def reweight(self, weights: np.ndarray) -> tuple[np.ndarray, int]:  # pragma: no cover - abstract
        """The step applied to every column of ``weights``: (new weights, columns that did not converge)."""
        raise NotImplementedError

    def residualize(self, influence: np.ndarray) -> np.ndarray:
        return influence

    def achieved_margins(self, weights: np.ndarray) -> tuple[MarginCheck, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class CalibrationStep(WeightingStep):
    """Raking or calibration to margins; remembers the calibration model for residuals."""

    cells: Cells
    shares: tuple[np.ndarray, ...]
    population_total: float
    scale: float
    calfun: str
    bounds: tuple[float, float]
    tol: float
    max_iter: int

    has_targets = True
    residualizes = True

    @cached_property
    def g_weights(self) -> np.ndarray:
        """Final over input weights (cached: every linearized estimate divides by them); 1 for an
        out-of-scope row (weight 0 before and after)."""
        return _ratio(self.output_weights, self.input_weights)

    @cached_property
    def model_matrix(self) -> np.ndarray:
        """Calibration model matrix per cell: intercept, then indicators of non-first levels."""
        return _model_matrix(self.cells)

    @cached_property
    def totals(self) -> np.ndarray:
        parts = [np.array([self.population_total])]
        parts += [share[1:] * self.population_total for share in self.shares]
        return np.concatenate(parts)

    @cached_property
    def _projection(self) -> np.ndarray:
        """(X'DX)⁺ over the input weights, cached: every estimate's residuals reuse it."""
        x = self.model_matrix
        d = self.cells.sum(self.input_weights)
        return np.linalg.pinv((x * d[:, None]).T @ x)

    def residualize(self, influence: np.ndarray) -> np.ndarray:
        """Calibration residuals e = z - g·d·Xβ, β = (X'DX)⁻¹X'(z/g).

        The same as R's ``qr.resid(qr(√d X), z / (g√d)) · g√d`` (``svyrecvar`` for a
        ``greg_calibration``), computed per cell.
        """
        g = self.g_weights
        x = self.model_matrix
        beta = self._projection @ (x.T @ self.cells.sum(influence / g[:, None]))
        fitted = (x @ beta)[self.cells.index]
        return influence - self.output_weights[:, None] * fitted

    @cached_property
    def model_basis(self) -> sp.csr_matrix:
        """The model matrix, sparse: products with it are sums over its few non-zeros, where a
        (cells x k) BLAS product costs 10-50x in threads on a busy machine."""
        import scipy.sparse as sp

        return sp.csr_matrix(self.model_matrix)

    def domain_correction(self, z: np.ndarray, cell_domain: np.ndarray,
                          k: int) -> tuple[Optional[sp.csr_matrix], np.ndarray]:
        """(B, C) with residuals e = Z − w·(BC)[cell], for domain-coded influence values (z[i]
        in column d of k, ``cell_domain[i]`` = cell * (k + 1) + d, d = k: in none); the same as
        :meth:`residualize` without an (n x k) matrix. B is the model matrix (cells x
        parameters) and C (parameters x k), kept apart so that the covariance is made of
        (parameters x k) blocks."""
        sums = cell_domain_sums(cell_domain, z / self.g_weights, self.cells.size, k)
        return self.model_basis, self._projection @ (self.model_basis.T @ sums)

    @property
    def recounts_degf(self) -> bool:
        """Linear calibration without bounds: R's ``regcalibrate``, which recounts degf."""
        return self.method == "calibrate" and self.calfun == "linear" and not np.isfinite(self.bounds).any()

    def reweight(self, weights: np.ndarray) -> tuple[np.ndarray, int]:
        inputs = weights * self.scale
        cell_inputs = self.cells.sum(inputs)
        if self.method == "rake":
            g, _, converged = _ipf(cell_inputs, self.cells, self.shares, self.population_total, self.tol, self.max_iter)
        else:
            g, _, converged = _calibrate_cells(
                self.model_matrix, cell_inputs, self.totals, self.calfun, self.bounds, self.tol, self.max_iter
            )
        failed = int(np.sum(~converged))
        if failed:  # R keeps a replicate's last weights too; only the full sample must converge
            warnings.warn(
                f"{self.method}: {failed} replicates did not converge in {self.max_iter} iterations",
                ConvergenceWarning,
                stacklevel=3,
            )
        return inputs * g[self.cells.index], failed

    def achieved_margins(self, weights: np.ndarray) -> tuple[MarginCheck, ...]:
        per_cell = self.cells.sum(weights)
        total = per_cell.sum()
        rows = self.cells.sum(np.ones(len(weights)))
        checks = []
        for v, variable in enumerate(self.cells.variables):
            achieved = self.cells.level_sums(per_cell, v) / total
            unweighted = self.cells.level_sums(rows, v) / len(weights)
            for level, target, got, raw in zip(self.cells.levels[v], self.shares[v], achieved, unweighted):
                checks.append(MarginCheck(variable, level, float(target), float(got), float(raw)))
        return tuple(checks)


@dataclass(frozen=True, eq=False)
class PostStratificationStep(WeightingStep):
    """Post-stratification to cell shares."""

    cells: Cells
    cell_totals: np.ndarray

    has_targets = True
    residualizes = True
    recounts_degf = True

    def domain_correction(self, z: np.ndarray, cell_domain: np.ndarray, k: int) -> tuple[None, np.ndarray]:
        """(None, F): residuals e = Z − w·F[cell], F (cells x k) (see ``CalibrationStep``; the
        basis is the cells themselves)."""
        old = self.input_weights
        sums = cell_domain_sums(cell_domain, z * _ratio(old, self.output_weights), self.cells.size, k)
        return None, sums / self.cells.sum(old)[:, None]

    def residualize(self, influence: np.ndarray) -> np.ndarray:
        """Subtract each cell's mean of z/w (weighted by the input weights), times w.

        R's ``svyrecvar`` for ordinary post-strata (``psmeans`` with ``oldweights``).
        """
        w, old = self.output_weights, self.input_weights
        means = self.cells.sum(influence * _ratio(old, w)[:, None]) / self.cells.sum(old)[:, None]
        return influence - w[:, None] * means[self.cells.index]

    def reweight(self, weights: np.ndarray) -> tuple[np.ndarray, int]:
        sums = self.cells.sum(weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(sums > 0, self.cell_totals[:, None] / sums, 1.0)
        return weights * g[self.cells.index], 0

    def achieved_margins(self, weights: np.ndarray) -> tuple[MarginCheck, ...]:
        achieved = self.cells.sum(weights) / weights.sum()
        unweighted = self.cells.sum(np.ones(len(weights))) / len(weights)
        targets = self.cell_totals / self.cell_totals.sum()
        variable = " × ".join(self.cells.variables)
        return tuple(
            MarginCheck(variable, CELL_SEPARATOR.join(self.cells.levels[v][k] for v, k in enumerate(code)),
                        float(t), float(a), float(u))
            for code, t, a, u in zip(self.cells.codes, targets, achieved, unweighted)
        )


@dataclass(frozen=True, eq=False)
class TrimStep(WeightingStep):
    """Trimming: clip to [lower, upper], spread the clipped amount over the weights inside."""

    lower: float
    upper: float

    def reweight(self, weights: np.ndarray) -> tuple[np.ndarray, int]:
        return _trim_columns(weights, self.lower, self.upper), 0


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 1 where the denominator is 0 (rows with zero weight)."""
    return np.divide(numerator, denominator, out=np.ones_like(numerator, dtype=float), where=denominator != 0)


# --------------------------------------------------------------------------------------
# solvers on cells (columns = full sample or replicates)
# --------------------------------------------------------------------------------------
def _ipf(cell_inputs, cells: Cells, shares, population_total, tol, max_iter):
    """Iterative proportional fitting on cells, finished by Newton; (g per cell, iterations, converged).

    IPF sweeps until every margin is within ``tol`` (relative) of its target (at most
    ``max_iter`` sweeps); converged means Newton's misfit test then passed. Its g-weights are
    exp(Xλ) for the calibration model X (a product of one factor per level), so λ is read off
    the accumulated factors and the raking calibration equations are finished by Newton's
    method from there, as R's ``calibrate(calfun = "raking")`` (a last step after the
    tolerance is met): the weights then agree with R's to rounding, not only to ``tol``.
    """
    w = cell_inputs.astype(float, copy=True)
    targets = [share * population_total for share in shares]
    is_matrix = w.ndim == 2
    columns = w.shape[1] if is_matrix else 1
    log_factors = [np.zeros((len(levels), columns)) for levels in cells.levels]
    iterations = 0
    for iterations in range(1, max_iter + 1):
        for v, target in enumerate(targets):
            sums = cells.level_sums(w, v)
            t = target[:, None] if is_matrix else target
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(sums > 0, t / sums, 1.0)
            w *= factor[cells.codes[:, v]]
            log_factors[v] += np.log(factor).reshape(len(factor), -1)
        error = np.zeros(columns)
        for v, target in enumerate(targets):
            sums = cells.level_sums(w, v)
            t = target[:, None] if is_matrix else target
            error = np.maximum(error, np.max(np.abs(sums - t) / t, axis=0))
        if np.all(error < tol):
            break
    start = np.vstack([sum(f[0] for f in log_factors)[None, :]] + [f[1:] - f[0] for f in log_factors])
    x = _model_matrix(cells)
    totals = np.concatenate([[population_total]] + [share[1:] * population_total for share in shares])
    g, newton_iterations, newton_converged = _calibrate_cells(
        x, cell_inputs, totals, "raking", (-np.inf, np.inf), tol, max_iter, start=start,
    )
    return g, iterations + newton_iterations, newton_converged


def _model_matrix(cells: Cells) -> np.ndarray:
    """Calibration model matrix per cell: intercept, then indicators of non-first levels."""
    columns = [np.ones(cells.size)]
    for v, levels in enumerate(cells.levels):
        for k in range(1, len(levels)):
            columns.append((cells.codes[:, v] == k).astype(float))
    return np.column_stack(columns)


def _distance(calfun: str, bounds: tuple[float, float]) -> tuple[Callable, Callable, Callable]:
    """(F, F', G) with g = F(u): R's ``cal.linear``, ``cal.raking``, ``cal.logit`` (+1), and G
    the antiderivative of F, so that Σ d G(x'λ) − λ'T is a convex function of λ whose gradient
    is minus the calibration misfit (what the Newton steps are damped on)."""
    lower, upper = bounds
    if calfun == "linear":
        def g_linear(u):
            v = 1 + u
            return np.where(v < lower, lower * (v - lower) + lower**2 / 2,
                            np.where(v > upper, upper * (v - upper) + upper**2 / 2, v**2 / 2))

        return (
            lambda u: np.clip(1 + u, lower, upper),
            lambda u: ((1 + u > lower) & (1 + u < upper)).astype(float),
            g_linear,
        )
    if calfun == "raking":
        with np.errstate(divide="ignore", invalid="ignore"):  # no bound: ±inf, never crossed
            log_lower, log_upper = np.log(lower), np.log(upper)

        def g_raking(u):
            return np.where(u < log_lower, lower * (u - log_lower + 1),
                            np.where(u > log_upper, upper * (u - log_upper + 1), np.exp(u)))

        def df(u):
            e = np.exp(u)
            return np.where((e > lower) & (e < upper), e, 0.0)

        return lambda u: np.clip(np.exp(u), lower, upper), df, g_raking
    # logit: F = L + (U − L)·expit(a·u + log((1 − L)/(U − 1))), R's cal.logit written stably
    a = (upper - lower) / ((upper - 1) * (1 - lower))
    shift = np.log((1 - lower) / (upper - 1))
    return (
        lambda u: lower + (upper - lower) * special.expit(a * u + shift),
        lambda u: a * (upper - lower) * special.expit(a * u + shift) * special.expit(-(a * u + shift)),
        lambda u: lower * u + (upper - lower) / a * np.logaddexp(0, a * u + shift),
    )


def _calibrate_cells(x, cell_inputs, totals, calfun, bounds, tol, max_iter, start=None):
    """Newton's method for the calibration equations Σ d x F(x'λ) = T, on cells.

    As R's ``grake`` (survey::calibrate): converged when max |misfit| / (1 + |T|) < tol; the
    Newton step computed from that misfit is still applied. Columns of ``cell_inputs`` are
    solved together. Returns (g per cell, iterations, converged per column).

    With bounds, F is flat beyond them: once every cell of a level is at a bound the Jacobian
    X'DF'X is singular along that level, and a plain (pseudo-inverse) Newton step can never
    move it again, so wider bounds, which let the first steps overshoot further, could stall
    where narrower ones converge. The equations are the gradient of the convex
    Φ(λ) = Σ d G(x'λ) − λ'T, so each step is the regularized Newton step
    (X'DF'X + μI)⁻¹·misfit, μ = ‖misfit‖ (Li, Fukushima & Qi), halved until Φ decreases:
    μ → 0 at the solution (Newton's quadratic convergence), and the same weights as R's,
    since g is unique at any solution of a convex problem. ``start``: λ to start from
    (default 0, g = 1).
    """
    f, df, antiderivative = _distance(calfun, bounds)
    d = cell_inputs if cell_inputs.ndim == 2 else cell_inputs[:, None]
    lam = np.zeros((x.shape[1], d.shape[1])) if start is None else start
    identity = np.eye(x.shape[1])

    def objective(lam):
        with np.errstate(over="ignore", invalid="ignore"):
            values = (d * antiderivative(x @ lam)).sum(axis=0) - totals @ lam
        return np.where(np.isnan(values), np.inf, values)

    converged = np.zeros(d.shape[1], dtype=bool)
    iterations = 0
    for iterations in range(1, max_iter + 1):
        with np.errstate(over="ignore"):
            u = x @ lam
            misfit = totals[:, None] - x.T @ (d * f(u))
            converged = np.max(np.abs(misfit) / (1 + np.abs(totals))[:, None], axis=0) < tol
            hessian = np.einsum("cj,cr,ck->rjk", x, d * df(u), x)
        ridge = np.linalg.norm(misfit, axis=0)[:, None, None] * identity
        step = np.linalg.solve(hessian + ridge, misfit.T[:, :, None])[:, :, 0].T
        step = np.where(np.isfinite(step), step, 0.0)
        before = objective(lam)
        slope = np.sum(misfit * step, axis=0)
        slack = 1e-12 * (np.abs(before) + np.abs(totals @ lam))  # roundoff near the solution
        t = np.ones(d.shape[1])
        for _ in range(60):
            trial = objective(lam + t * step)
            short = ~(trial <= before - 1e-4 * t * slope + slack)
            if not short.any():
                break
            t = np.where(short, t / 2, t)
        lam = lam + t * step
        if converged.all():
            break
    g = f(x @ lam)
    return (g if cell_inputs.ndim == 2 else g[:, 0]), iterations, converged


def _trim_columns(weights: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """R's ``trimWeights`` (one pass) on a vector or on each column of a matrix, among the
    non-zero weights: a row out of scope (or deleted in a replicate) stays at 0."""
    w = weights if weights.ndim == 2 else weights[:, None]
    counted = w != 0
    clipped = np.where(counted, np.clip(w, lower, upper), w)
    outside = counted & ((w < lower) | (w > upper))
    inside = counted & ~outside
    spread = (w - clipped).sum(axis=0) / np.maximum(inside.sum(axis=0), 1)
    out = clipped + inside * spread[None, :]
    return out if weights.ndim == 2 else out[:, 0]


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------
def _margins_cells(design: SurveyDesign, target_margins: TargetMargins) -> tuple[Cells, tuple[np.ndarray, ...]]:
    if not isinstance(target_margins, Mapping) or not target_margins:
        raise ValueError("target_margins must map each weighting variable to {level: share}")
    validated = {str(v): _target_shares(str(v), shares) for v, shares in target_margins.items()}
    cells = make_cells(design.data, {v: levels for v, (levels, _) in validated.items()})
    for v in range(len(cells.variables)):
        _check_levels_present(cells, v)
    return cells, tuple(shares for _, shares in validated.values())


def _check_tolerance(tol: float, max_iter: int) -> None:
    if not tol > 0:
        raise ValueError(f"tol={tol!r} must be positive")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter={max_iter!r} must be at least 1")


def _calibration_design(design, target_margins, population, calfun, bounds, tol, max_iter, method):
    _check_tolerance(tol, max_iter)
    cells, shares = _margins_cells(design, target_margins)
    total, scale = _scaled_inputs(design, population)
    inputs = design.weights * scale
    cell_inputs = cells.sum(inputs)
    step_args = dict(
        cells=cells, shares=shares, population_total=total, scale=scale, calfun=calfun,
        bounds=bounds, tol=tol, max_iter=int(max_iter),
    )
    if method == "rake":
        g, iterations, converged = _ipf(cell_inputs, cells, shares, total, tol, int(max_iter))
    else:
        probe = CalibrationStep("calibrate", inputs, inputs, None, True, **step_args)
        _check_bounds_feasible(cells, cell_inputs, probe.totals, shares, total, bounds)
        g, iterations, converged = _calibrate_cells(
            probe.model_matrix, cell_inputs, probe.totals, calfun, bounds, tol, int(max_iter)
        )
    weights = inputs * g[cells.index]
    if not converged[0]:
        worst = max(CalibrationStep(method, inputs, weights, iterations, False, **step_args).achieved_margins(weights),
                    key=lambda m: abs(m.difference) / m.target_share)
        within = f" with g-weights within bounds [{bounds[0]:g}, {bounds[1]:g}]" if np.isfinite(bounds).any() else ""
        raise WeightingError(
            f"{'raking' if method == 'rake' else 'calibration'} cannot meet every target{within}: after "
            f"{iterations} iterations `{worst.variable}` = `{worst.level}` is at {worst.achieved_share:.6g} "
            f"against a target of {worst.target_share:.6g}; check that margin (its levels, and whether it "
            "contradicts the others)" + ("; or widen the bounds" if within else "")
        )
    if calfun == "linear":
        negative = int(np.sum(weights <= 0))
        if negative:
            warnings.warn(
                f"linear calibration gave {negative} respondents a negative or zero weight; "
                "use calfun='raking' or 'logit', or bounds",
                NegativeWeightsWarning,
                stacklevel=3,
            )
    step = CalibrationStep(method, inputs, weights, iterations, True, **step_args)
    logger.debug("%s: %d cells, %d iterations", method, cells.size, iterations)
    return design.with_weighting(step, weights)


def _check_bounds_feasible(cells, cell_inputs, totals, shares, total, bounds) -> None:
    lower, upper = bounds
    if not (np.isfinite(lower) or np.isfinite(upper)):
        return
    checks = [("the population total", "", cell_inputs.sum(), total)]
    for v, variable in enumerate(cells.variables):
        sums = cells.level_sums(cell_inputs, v)
        checks += [(f"`{variable}`", f" = `{lvl}`", s, share * total) for lvl, s, share in zip(cells.levels[v], sums, shares[v])]
    for what, level, achievable, target in checks:
        if not (lower * achievable <= target <= upper * achievable):
            raise WeightingError(
                f"calibration bounds [{lower:g}, {upper:g}] are infeasible for {what}{level}: "
                f"its target {target:.6g} is outside [{lower * achievable:.6g}, {upper * achievable:.6g}]; widen the bounds"
            )


def rake(
    design: SurveyDesign,
    target_margins: TargetMargins,
    *,
    population: Optional[float] = None,
    tol: float = 1e-10,
    max_iter: int = 1000,
) -> SurveyDesign:
    """Rake (iterative proportional fitting) to marginal target shares.

    Parameters
    ----------
    design : SurveyDesign
    target_margins : mapping
        ``{variable: {level: share}}``; each variable's shares sum to 1.
    population : float, optional
        Population size the shares are scaled by; default the sum of the input weights.
    tol : float
        Converged when every margin is within ``tol`` (relative) of its target.
    max_iter : int
        Maximum number of sweeps over the margins; reaching it raises ``WeightingError``
        naming the margin furthest from its target (R: "Calibration failed").

    Returns
    -------
    SurveyDesign
        A new design with raked weights.

    Notes
    -----
    IPF (Deming & Stephan 1940) on the table of distinct cells. The weights are those of
    R's ``survey::rake()`` and of ``survey::calibrate(calfun = "raking")``; linearized
    variances use the exact calibration residuals (as ``calibrate``), not ``rake()``'s ten
    backfitting sweeps.
    """
    return _calibration_design(design, target_margins, population, "raking", (-np.inf, np.inf), tol, max_iter, "rake")


def calibrate(
    design: SurveyDesign,
    target_margins: TargetMargins,
    *,
    calfun: Calfun = "linear",
    bounds: Optional[Sequence[float]] = None,
    population: Optional[float] = None,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> SurveyDesign:
    """Calibrate to marginal target shares with a distance function and optional bounds.

    Parameters
    ----------
    design : SurveyDesign
    target_margins : mapping
        ``{variable: {level: share}}``; each variable's shares sum to 1. The calibration
        model is an intercept plus indicators of every level but the first.
    calfun : {"linear", "raking", "logit"}
        Distance function (GREG, raking ratio, logit); "logit" needs finite bounds.
    bounds : (lower, upper), optional
        Bounds on the g-weights, g = final weight / input weight, the input weights first
        scaled to ``population`` when given.
    population : float, optional
        Population size the shares are scaled by; default the sum of the input weights.
    tol, max_iter : float, int
        Newton iterations stop when max |misfit| / (1 + |target|) < tol.

    Returns
    -------
    SurveyDesign

    Notes
    -----
    Deville & Särndal (1992), "Calibration estimators in survey sampling", JASA 87. Matches
    R's ``survey::calibrate(design, ~x1 + x2, population, calfun, bounds)``. Targets that
    cannot be met (within the bounds) raise ``WeightingError``; negative weights from linear calibration warn
    ``NegativeWeightsWarning`` with their count.
    """
    check_choice("calfun", calfun, CALFUNS)
    lower, upper = (-np.inf, np.inf) if bounds is None else (float(bounds[0]), float(bounds[1]))
    if bounds is not None and (len(bounds) != 2 or not lower < 1 < upper):
        raise ValueError(f"bounds={list(bounds)!r} must be [lower, upper] with lower < 1 < upper")
    if calfun == "logit" and not (np.isfinite(lower) and np.isfinite(upper)):
        raise ValueError("calfun='logit' needs finite bounds, e.g. bounds=(0.3, 3)")
    return _calibration_design(design, target_margins, population, calfun, (lower, upper), tol, max_iter, "calibrate")


def _cell_key(key: Union[str, Sequence[str]], n_variables: int) -> tuple[str, ...]:
    if isinstance(key, str):
        return tuple(key.split(CELL_SEPARATOR)) if n_variables > 1 else (key,)
    if isinstance(key, tuple):
        return tuple(r_text(k) for k in key)
    return (r_text(key),)


def poststratify(
    design: SurveyDesign,
    by: Union[str, Sequence[str]],
    target_shares: Mapping[Union[str, tuple], float],
    *,
    population: Optional[float] = None,
) -> SurveyDesign:
    """Post-stratify to the shares of the cells crossed from ``by``.

    Parameters
    ----------
    design : SurveyDesign
    by : str or list of str
        Variables crossed into cells.
    target_shares : mapping
        Share of each cell; keys are level tuples or levels joined by ``"|"``
        (``"18-29|female"``). Shares sum to 1.
    population : float, optional
        Population size the shares are scaled by; default the sum of the input weights.

    Returns
    -------
    SurveyDesign

    Notes
    -----
    Holt & Smith (1979). Matches R's ``survey::postStratify()``; its linearized variance
    subtracts each cell's mean of the influence values (R's ``svyrecvar``).
    """
    variables = (by,) if isinstance(by, str) else tuple(by)
    if not variables:
        raise ValueError("poststratify needs at least one variable in `by`")
    if not isinstance(target_shares, Mapping) or not target_shares:
        raise ValueError("target_shares must map each cell to its share")
    name = " × ".join(variables)
    keys = [_cell_key(k, len(variables)) for k in target_shares]
    for key, raw in zip(keys, target_shares):
        if len(key) != len(variables):
            raise ValueError(f"cell `{raw}` does not give one level for each of {', '.join(variables)}")
    _, shares = _target_shares(name, {CELL_SEPARATOR.join(k): s for k, s in zip(keys, target_shares.values())})
    levels = {v: tuple(dict.fromkeys(k[i] for k in keys)) for i, v in enumerate(variables)}
    cells = make_cells(design.data, levels)
    present = {tuple(cells.levels[v][c] for v, c in enumerate(code)): i for i, code in enumerate(cells.codes)}
    target_of_key = dict(zip(keys, shares))
    for key, i in present.items():
        if key not in target_of_key:
            count = int(np.sum(cells.index == i))
            raise ValueError(f"cell `{CELL_SEPARATOR.join(key)}` of {name} has {count} respondents but no target")
    for key in keys:
        if key not in present:
            raise WeightingError(f"target cell `{CELL_SEPARATOR.join(key)}` of {name} has no respondents; "
                                 "merge it with a neighbouring cell")
    total, _ = _scaled_inputs(design, population)
    order = [target_of_key[tuple(cells.levels[v][c] for v, c in enumerate(code))] for code in cells.codes]
    cell_totals = np.asarray(order) * total
    inputs = design.weights
    weights = inputs * (cell_totals / cells.sum(inputs))[cells.index]
    step = PostStratificationStep("poststratify", inputs, weights, None, True, cells=cells, cell_totals=cell_totals)
    return design.with_weighting(step, weights)


def trim(design: SurveyDesign, lower: Optional[float] = None, upper: Optional[float] = None) -> SurveyDesign:
    """Trim weights to [lower, upper], spreading the trimmed amount over the weights inside.

    Parameters
    ----------
    design : SurveyDesign
    lower, upper : float, optional
        Bounds on the final weights (at least one).

    Returns
    -------
    SurveyDesign

    Notes
    -----
    One pass, as R's ``survey::trimWeights(strict = FALSE)``: weights may land slightly
    outside the bounds after the spread. The linearized variance keeps the previous
    weighting step's calibration residuals; replicates are trimmed column by column.
    """
    lo = -np.inf if lower is None else float(lower)
    hi = np.inf if upper is None else float(upper)
    if lower is None and upper is None:
        raise ValueError("trim needs a lower or an upper bound")
    if not lo < hi:
        raise ValueError(f"trim bounds [{lo:g}, {hi:g}]: lower must be below upper")
    inputs = design.weights
    if np.all(((inputs < lo) | (inputs > hi))[inputs != 0]):
        raise ValueError(f"every weight is outside [{lo:g}, {hi:g}]; nothing is left to absorb the trimming")
    weights = _trim_columns(inputs, lo, hi)
    step = TrimStep("trim", inputs, weights, None, True, lower=lo, upper=hi)
    return design.with_weighting(step, weights)


@dataclass(frozen=True)
class WeightingMethod:
    """One weighting method as a spec, the site and the API name it.

    ``options`` are the spec's ``weighting:`` keys the method reads (``required`` among
    them); ``function`` the public function that does it.
    """

    name: str
    label: str
    function: Callable[..., SurveyDesign]
    required: tuple[str, ...]
    options: tuple[str, ...]


#: The weighting methods, by name: the one list the spec validation, the site and the API read.
METHODS: Mapping[str, WeightingMethod] = MappingProxyType({
    "rake": WeightingMethod("rake", "Raking", rake, ("margins",),
                            ("population", "margins", "bounds", "trim", "tol", "max_iter")),
    "poststratify": WeightingMethod("poststratify", "Post-stratification", poststratify, ("by", "cells"),
                                    ("population", "by", "cells", "trim")),
    "calibrate": WeightingMethod("calibrate", "Calibration with bounds", calibrate, ("margins",),
                                 ("population", "margins", "calfun", "bounds", "trim", "tol", "max_iter")),
})
