"""Design-based regression, as R's ``svyglm``: linear and logistic models on survey weights.

The coefficients solve the weighted score equations (least squares, or quasi-binomial with a
logit link) with the final weights, fitted with statsmodels (WLS; the binomial family's link,
variance and deviance in R's IRLS iterations). Their standard errors come
from the design: linearization of the influence values (X(y−μ)w)A⁻¹, A the weighted
information matrix, with calibration residuals, strata and clusters; or the replicate weights,
the model refitted with every replicate.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np
import pandas as pd

from analysis._checks import check_choice, check_level, column
from analysis.design import SurveyDesign
from analysis.estimates import outcome_values, text_values
from analysis.exceptions import ConvergenceWarning
from analysis.variance import linearized_covariance, replicate_covariance

Family = Literal["gaussian", "binomial"]
FAMILIES = ("gaussian", "binomial")
NEWTON_TOLERANCE = 1e-12
NEWTON_MAX_ITER = 50
GLM_EPSILON = 1e-8
GLM_MAX_ITER = 25


@dataclass(frozen=True)
class Coefficient:
    """One coefficient on the link scale (log-odds for binomial)."""

    term: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float


@dataclass(frozen=True)
class ModelResult:
    """A fitted design-based GLM: coefficients, design-based covariance, residual df."""

    outcome: str
    family: str
    predictors: tuple[str, ...]
    coefficients: tuple[Coefficient, ...]
    df_residual: int
    n: int
    level: float
    covariance: np.ndarray = field(repr=False, compare=False)

    def __getitem__(self, term: str) -> Coefficient:
        for c in self.coefficients:
            if c.term == term:
                return c
        raise KeyError(f"no term `{term}`; terms are {', '.join(c.term for c in self.coefficients)}")

    def to_frame(self) -> pd.DataFrame:
        """One row per term."""
        return pd.DataFrame([c.__dict__ for c in self.coefficients])


def _model_matrix(data: pd.DataFrame, predictors: Sequence[str], reference: Mapping[str, str]):
    """Intercept, treatment-coded text predictors (baseline: ``reference`` or first in byte order)
    and numeric predictors as they are. Returns (matrix, terms, rows with every predictor)."""
    columns, terms = [np.ones(len(data))], ["intercept"]
    present = np.ones(len(data), dtype=bool)
    for name in predictors:
        series = column(data, name, "predictor")
        present &= series.notna().to_numpy()
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            columns.append(series.to_numpy(float))
            terms.append(name)
            continue
        text = text_values(series)
        levels = sorted(set(text.dropna()))
        baseline = reference.get(name)
        if baseline is not None:
            if str(baseline) not in levels:
                raise ValueError(f"reference level `{baseline}` of `{name}` is not among its answers")
            levels = [str(baseline)] + [lv for lv in levels if lv != str(baseline)]
        values = text.to_numpy(dtype=object)
        for lv in levels[1:]:
            columns.append((values == lv).astype(float))
            terms.append(f"{name}={lv}")
    unknown = set(reference) - set(predictors)
    if unknown:
        raise ValueError(f"reference given for `{sorted(unknown)[0]}`, which is not a predictor")
    return np.column_stack(columns), terms, present


def _expit(eta: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-eta))


def _logistic_density(eta: np.ndarray) -> np.ndarray:
    mu = _expit(eta)
    return mu * (1 - mu)


def _quasibinomial_as_glm_fit(x: np.ndarray, y: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IRLS for the quasi-binomial logit model, step for step as R's ``glm.fit``.

    Same start (μ = (w·y + 0.5)/(w + 1)), same stopping rule (relative deviance change
    below 1e-8, at most 25 iterations), and it returns the working weights of the last
    weighted least-squares step, which ``svyglm`` uses in its information matrix and score
    (R's ``summary(glm)$cov.unscaled`` and ``weights(glm, "working")``). statsmodels' GLM
    reaches the same coefficients; reproducing R's iterations keeps standard errors equal
    to 1e-6 rather than 1e-5.
    """
    import statsmodels.api as sm  # here, not at import: a spec without models never pays for statsmodels

    family = sm.families.Binomial()
    mu = (prior * y + 0.5) / (prior + 1)
    eta = family.link(mu)
    deviance_old = family.deviance(y, mu, var_weights=prior)
    beta, working = np.zeros(x.shape[1]), prior
    for _ in range(GLM_MAX_ITER):
        density = _logistic_density(eta)
        working = prior * density**2 / family.variance(mu)
        root = np.sqrt(working)
        z = eta + (y - mu) / density
        beta = np.linalg.lstsq(x * root[:, None], z * root, rcond=None)[0]
        eta = x @ beta
        mu = _expit(eta)
        deviance = family.deviance(y, mu, var_weights=prior)
        if abs(deviance - deviance_old) / (abs(deviance) + 0.1) < GLM_EPSILON:
            return beta, working
        deviance_old = deviance
    warnings.warn(f"the logistic model did not converge in {GLM_MAX_ITER} iterations", ConvergenceWarning, stacklevel=3)
    return beta, working


def _outer_rows(x: np.ndarray) -> np.ndarray:
    """Row-wise outer products x_i x_iᵀ flattened: (n, p*p), so Σ_i v_i x_i x_iᵀ is one matmul."""
    return (x[:, :, None] * x[:, None, :]).reshape(len(x), -1)


def _refit_replicates(x, y, weights, start, family) -> np.ndarray:
    """Coefficients refitted with every column of ``weights``, (replicates x p), batched."""
    p = x.shape[1]
    outer = _outer_rows(x)
    if family == "gaussian":
        information = (outer.T @ weights).T.reshape(-1, p, p)
        score = (x.T @ (weights * y[:, None])).T
        return np.linalg.solve(information, score[:, :, None])[:, :, 0]
    beta = np.repeat(start[None, :], weights.shape[1], axis=0)
    converged = np.zeros(weights.shape[1], dtype=bool)
    for _ in range(NEWTON_MAX_ITER):
        with np.errstate(over="ignore"):
            mu = 1 / (1 + np.exp(-(x @ beta.T)))
        score = (x.T @ (weights * (y[:, None] - mu))).T
        information = (outer.T @ (weights * mu * (1 - mu))).T.reshape(-1, p, p)
        try:
            step = np.linalg.solve(information, score[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a replicate whose fitted values all reached 0 or 1
            break
        beta = beta + step
        converged = np.max(np.abs(step), axis=1) < NEWTON_TOLERANCE
        if converged.all():
            break
    if not converged.all():
        warnings.warn(
            f"the logistic model did not converge in {int(np.sum(~converged))} of {len(converged)} replicates "
            f"({NEWTON_MAX_ITER} Newton steps); an outcome category may be (nearly) separated by a predictor "
            "in some replicates, so the standard errors are unreliable",
            ConvergenceWarning, stacklevel=3,
        )
    return beta


def svyglm(
    design: SurveyDesign,
    outcome: str,
    predictors: Sequence[str],
    family: Family = "gaussian",
    categories: Optional[Sequence[str]] = None,
    reference: Optional[Mapping[str, str]] = None,
    level: float = 0.95,
) -> ModelResult:
    """Fit a design-based generalized linear model.

    Parameters
    ----------
    design : SurveyDesign
    outcome : str
        Outcome column: numeric for "gaussian"; for "binomial" the outcome is 1 for answers in
        ``categories`` and 0 for other (non-missing) answers.
    predictors : list of str
        Text columns are categorical (treatment coding, terms ``VARIABLE=LEVEL``), numeric
        columns enter as they are.
    family : {"gaussian", "binomial"}
        Identity link (least squares) or quasi-binomial with a logit link.
    categories : list of str, optional
        Binomial only: the answers coded 1.
    reference : mapping, optional
        Baseline level of categorical predictors; default the first level in byte order.
    level : float
        Confidence level of the intervals (Student t with ``df_residual``).

    Returns
    -------
    ModelResult

    Notes
    -----
    Matches R's ``svyglm(y ~ x1 + x2, design, family = quasibinomial())`` (or ``gaussian()``)
    with ``confint()`` and ``summary()`` p-values (Binder 1983; Lumley & Scott 2017). Rows
    missing the outcome or a predictor stay in the design with zero influence.
    ``df_residual`` is the design's degrees of freedom over the rows used, plus one, minus the
    number of coefficients (replicate designs: the whole design's).
    """
    check_choice("family", family, FAMILIES)
    level = check_level(level)
    if isinstance(predictors, str) or not predictors:
        raise ValueError("predictors must be a non-empty list of column names")
    if family == "binomial":
        if not categories:
            raise ValueError("a binomial model needs `categories`: the answers coded 1")
        cats = tuple(str(c) for c in ([categories] if isinstance(categories, str) else categories))
    elif categories is not None:
        raise ValueError("`categories` applies to family 'binomial' only")
    else:
        cats = None
    y_all = outcome_values(design, outcome, cats)
    x_all, terms, present = _model_matrix(design.data, list(predictors), dict(reference or {}))
    used = present & ~np.isnan(y_all)
    x, y, w = x_all[used], y_all[used], design.weights[used]
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise ValueError(f"the predictors of `{outcome}` are collinear over the rows used; drop one of {', '.join(predictors)}")
    prior = w / w.mean()
    if family == "binomial":
        beta, working_weights = _quasibinomial_as_glm_fit(x, y, prior)
        residuals = (y - _expit(x @ beta)) / _logistic_density(x @ beta)
    else:
        import statsmodels.api as sm

        beta = np.asarray(sm.WLS(y, x, weights=prior).fit().params)
        working_weights, residuals = prior, y - x @ beta
    p = len(beta)
    if design.replicates is None:
        information = (x * working_weights[:, None]).T @ x
        influence = np.zeros((design.n, p))
        influence[used] = (x * (residuals * working_weights)[:, None]) @ np.linalg.inv(information)
        covariance = linearized_covariance(design, influence)
        df_residual = design.domain_degf(used & (design.weights != 0)) + 1 - p
    else:
        replicates = _refit_replicates(x, y, design.replicate_weights[used], beta, family)
        covariance = replicate_covariance(design, replicates)
        df_residual = design.degf + 1 - p
    se = np.sqrt(np.diag(covariance))
    from scipy import stats

    t = stats.t.ppf(1 - (1 - level) / 2, df_residual)
    coefficients = []
    for term, b, s in zip(terms, beta, se):
        statistic = b / s
        coefficients.append(
            Coefficient(term, float(b), float(s), float(b - t * s), float(b + t * s), float(statistic),
                        float(2 * stats.t.sf(abs(statistic), df_residual)))
        )
    return ModelResult(outcome, family, tuple(predictors), tuple(coefficients), int(df_residual), int(used.sum()),
                       level, covariance)
