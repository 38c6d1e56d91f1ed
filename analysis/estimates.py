"""Design-based estimates: proportions, means and totals, for the sample and for domains.

Every domain is estimated inside the whole design: rows outside the domain (or with a
missing answer) stay in the design with zero influence, so strata, clusters and weighting
residuals are those of the whole sample (R's ``svymean(~y, subset(design, by == level))``).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, Optional, Union

import numpy as np
import pandas as pd
from scipy import special

from analysis._checks import check_choice, check_level, column
from analysis.design import SurveyDesign, replicate_rank
from analysis.variance import domain_covariance, replicate_covariance

if TYPE_CHECKING:
    import scipy.sparse as sp

CIMethod = Literal["logit", "beta", "mean", "xlogit", "asin", "wilson"]
PROPORTION_CI = ("logit", "beta", "mean", "xlogit", "asin", "wilson")
MEAN_CI = ("mean",)
Categories = Union[str, int, float, Sequence[Union[str, int, float]]]


@dataclass(frozen=True)
class Estimate:
    """One estimate with its design-based uncertainty.

    ``n`` is the unweighted number of rows behind the estimate; ``effective_n`` the weighted
    population variance over the design variance (p(1-p)/var for a proportion); ``deff`` the
    design effect against simple random sampling (None when the weights were never scaled to
    a population, as R); ``df`` the design degrees of freedom used by the interval.
    """

    variable: str
    statistic: str
    categories: Optional[tuple[str, ...]]
    by: Optional[str]
    domain: object
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    ci_method: str
    df: int
    deff: Optional[float]
    n: int
    effective_n: float

    def to_frame(self) -> pd.DataFrame:
        """One row with every field."""
        row = asdict(self)
        if row["categories"] is not None:
            row["categories"] = ", ".join(row["categories"])
        return pd.DataFrame([row])


@dataclass(frozen=True)
class DomainEstimates:
    """Estimates of one statistic for every level of ``by`` (sorted)."""

    variable: str
    statistic: str
    by: str
    results: tuple[Estimate, ...]

    def __iter__(self) -> Iterator[Estimate]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, domain) -> Estimate:
        for result in self.results:
            if result.domain == domain or str(result.domain) == str(domain):
                return result
        raise KeyError(f"`{self.by}` has no level `{domain}` among respondents with an answer")

    @property
    def domains(self) -> tuple:
        return tuple(r.domain for r in self.results)

    def to_frame(self) -> pd.DataFrame:
        """One row per domain."""
        return pd.concat([r.to_frame() for r in self.results], ignore_index=True)


# --------------------------------------------------------------------------------------
# the values behind an estimate
# --------------------------------------------------------------------------------------
def _categories(categories: Categories) -> tuple[str, ...]:
    if isinstance(categories, (str, int, float)):
        categories = [categories]
    cats = tuple(str(c) for c in categories)
    if not cats:
        raise ValueError("categories must name at least one answer")
    return cats


def _as_text(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Answers as text: (code of each row, -1 when missing; the distinct answers as text).

    Integer-valued float codes (read from CSV as 1.0, 2.0) become "1", "2". Each distinct
    answer is converted once, so a million rows cost one hash pass.
    """
    codes, uniques = pd.factorize(series)
    values = np.asarray(uniques, dtype=object)
    if pd.api.types.is_float_dtype(series) and all(float(v).is_integer() for v in values):
        texts = np.array([str(int(v)) for v in values], dtype=object)
    else:
        texts = np.array([str(v) for v in values], dtype=object)
    return codes, texts


def text_values(series: pd.Series) -> pd.Series:
    """The answers of ``series`` as text (missing stays missing), e.g. for model predictors."""
    codes, texts = _as_text(series)
    out = np.full(len(series), None, dtype=object)
    out[codes >= 0] = texts[codes[codes >= 0]]
    return pd.Series(out, index=series.index)


def outcome_values(design: SurveyDesign, variable: str, categories: Optional[tuple[str, ...]]) -> np.ndarray:
    """The analysis variable as floats: 1/0 for membership of ``categories``, NaN when missing."""
    series = column(design.data, variable, "variable")
    present = series.notna().to_numpy()
    if categories is not None:
        codes, texts = _as_text(series)
        hit = np.isin(texts, list(categories)).astype(float)
        return np.where(codes >= 0, hit[np.maximum(codes, 0)] if len(hit) else 0.0, np.nan)
    values = pd.to_numeric(series, errors="coerce").to_numpy(float)
    bad = present & np.isnan(values)
    if bad.any():
        example = series[bad].iloc[0]
        raise ValueError(f"`{variable}` is not numeric (e.g. `{example}`); use proportion() for categories")
    return values


def domain_levels(design: SurveyDesign, by: str) -> tuple[list, np.ndarray]:
    """Sorted levels of ``by`` among rows, and the level code of each row (-1 when missing).

    Cached on the design (which never changes): a results page asks for the same domains
    for every question.
    """
    cache = design.domain_cache
    if by not in cache:
        codes, uniques = pd.factorize(column(design.data, by, "`by` variable"), sort=True)
        cache[by] = (list(uniques), codes)
    return cache[by]


def _domain_label(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return int(value) if float(value).is_integer() else float(value)
    return value


@dataclass(frozen=True)
class _Columns:
    """The values behind k estimates: one per domain, each row in at most one domain.

    ``code[i]`` is the domain of row i among rows with a value (-1: missing value or no
    domain); ``by_code`` the domain of every row whatever its value (-1: ``by`` missing).
    """

    values: np.ndarray
    code: np.ndarray
    by_code: np.ndarray
    domains: tuple

    @property
    def k(self) -> int:
        return len(self.domains)

    def rows(self, k: int) -> np.ndarray:
        """Rows of domain ``k`` (whatever their value), as R's ``subset(design, by == level)``."""
        return self.by_code == k

    def indicator(self, per_row: np.ndarray) -> sp.csr_matrix:
        """Sparse (k x n) matrix with ``per_row`` at (domain, row): sums any column per domain."""
        import scipy.sparse as sp  # replicate designs only

        inside = np.flatnonzero(self.code >= 0)
        return sp.csr_matrix((per_row[inside], (self.code[inside], inside)), shape=(self.k, len(per_row)))


def _columns(design: SurveyDesign, values: np.ndarray, by: Optional[str]) -> _Columns:
    valid = ~np.isnan(values)
    if by is None:
        by_code = np.zeros(design.n, dtype=np.int64)
        domains: tuple = (None,)
    else:
        levels, by_code = domain_levels(design, by)
        domains = tuple(_domain_label(v) for v in levels)
    code = np.where(valid, by_code, -1)
    return _Columns(values, code, by_code, domains)


@dataclass(frozen=True)
class _Moments:
    """Point estimates, their covariance and (replicate designs) replicate estimates."""

    estimate: np.ndarray
    covariance: np.ndarray
    replicates: Optional[np.ndarray]
    population: np.ndarray
    counts: np.ndarray
    population_variance: np.ndarray


def _moments(design: SurveyDesign, cols: _Columns, statistic: str) -> _Moments:
    """Ratio (mean, proportion) or total estimates per domain, with their covariance.

    Linearization: influence values w(y − ȳ)/N̂ (ratio) or w·y (total) in each domain's column,
    zero outside it; replicates: the estimate recomputed with every replicate's weights.
    """
    w = design.weights
    inside = cols.code >= 0
    code, k = cols.code[inside], cols.k
    y = np.where(inside, cols.values, 0.0)
    population = np.bincount(code, weights=w[inside], minlength=k)
    numerator = np.bincount(code, weights=(w * y)[inside], minlength=k)
    counts = np.bincount(code[w[inside] != 0], minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = numerator / population
        estimate = numerator if statistic == "total" else mean
        centred = y - mean[np.maximum(cols.code, 0)]
        population_variance = np.bincount(code, weights=(w * centred**2)[inside], minlength=k) / population
        if design.replicates is None:
            if statistic == "total":
                per_row = w * y
            else:
                per_row = w * centred / population[np.maximum(cols.code, 0)]
            covariance = domain_covariance(design, per_row, cols.code, k)
            replicates = None
        else:
            rw = design.replicate_weights
            rep_num = cols.indicator(y) @ rw
            if statistic != "total":
                rep_num = rep_num / (cols.indicator(np.ones(design.n)) @ rw)
            replicates = np.asarray(rep_num).T
            covariance = replicate_covariance(design, replicates)
    return _Moments(estimate, covariance, replicates, population, counts, population_variance)


# --------------------------------------------------------------------------------------
# intervals
# --------------------------------------------------------------------------------------
def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p / (1 - p))


def _interval(method, p, se, df, level, logit_se, n_rows, domain_df):
    """(low, high) of one estimate; R's ``svyciprop`` / ``confint(svymean)``."""
    alpha = 1 - level
    t = special.stdtrit(df, 1 - alpha / 2)  # scipy.stats.t.ppf's own kernel, without importing scipy.stats
    p, se = np.float64(p), np.float64(se)  # 0 and 1 give infinite logits, not ZeroDivisionError
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "mean":
            return p - t * se, p + t * se
        if method == "logit" and p in (0.0, 1.0) and se == 0:
            return float(p), float(p)  # R's glm diverges towards p: its interval is (p, p) to 1e-8
        if method in ("logit", "xlogit"):
            centre = _logit(p)
            return float(_expit(centre - t * logit_se)), float(_expit(centre + t * logit_se))
        if method == "asin":
            centre = np.arcsin(np.sqrt(p))
            half = t * se / (2 * np.sqrt(p * (1 - p)))
            return float(np.sin(centre - half) ** 2), float(np.sin(centre + half) ** 2)
        n_eff = p * (1 - p) / se**2
        if np.isnan(n_eff):  # p = 0 or 1 with se = 0 (or no answers): R's qbeta gives NaN
            return np.nan, np.nan
        if not np.isfinite(n_eff) or n_eff <= 0:
            return float(p), float(p)
        if method == "wilson":
            from statsmodels.stats.proportion import proportion_confint

            low, high = proportion_confint(p * n_eff, n_eff, alpha=alpha, method="wilson")
            return float(low), float(high)
        # beta: Korn & Graubard (1998), as svyciprop(method = "beta")
        from scipy import stats

        n_eff = n_eff * (stats.t.ppf(alpha / 2, n_rows - 1) / stats.t.ppf(alpha / 2, domain_df)) ** 2
        low = 0.0 if p <= 0 else stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1)
        high = 1.0 if p >= 1 else stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p))
        return float(low), float(high)


def _is_calibrated(design: SurveyDesign) -> bool:
    return any(step.has_targets for step in design.steps)


def _beta_rows_and_df(design: SurveyDesign, rows: np.ndarray, whole: bool) -> tuple[int, int]:
    """Rows and degrees of freedom of the (domain) design, as R's subset() leaves them.

    R keeps every row of a calibrated design (zero weights outside the domain) but drops
    them otherwise; ``degf`` of the subset counts units with non-zero weight, or for a
    replicate design is the rank of the domain's replicate weights minus one.
    """
    if whole:
        return design.n, design.degf
    if design.replicates is not None:
        return int(rows.sum()), replicate_rank(design.replicate_weights[rows]) - 1
    n_rows = design.n if _is_calibrated(design) else int(rows.sum())
    return n_rows, design.domain_degf(rows & (design.weights != 0))


def _results(design, variable, statistic, categories, by, ci, level) -> list[Estimate]:
    cols = _columns(design, outcome_values(design, variable, categories), by)
    m = _moments(design, cols, statistic)
    variance = np.diag(m.covariance)
    with np.errstate(divide="ignore", invalid="ignore"):  # p = 0 or 1: infinite logits
        if ci == "logit" and m.replicates is not None:
            logit_variance = np.diag(replicate_covariance(design, _logit(m.replicates)))
        else:
            logit_variance = variance / (m.estimate * (1 - m.estimate)) ** 2
    df = design.degf
    results = []
    for k, domain in enumerate(cols.domains):
        n_k, big_n = int(m.counts[k]), float(m.population[k])
        est = float(m.estimate[k])
        # a domain with no answers has no ratio and no variance (its total is 0 with variance 0)
        se = float(np.sqrt(variance[k])) if n_k or statistic == "total" else np.nan
        s2 = float(m.population_variance[k])
        scale_total = big_n**2 if statistic == "total" else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            # None where R's deff is NaN/Inf: one respondent, or no spread (p = 0 or 1)
            srs = s2 * (big_n - n_k) / (n_k - 1) / big_n * scale_total if big_n > n_k > 1 else 0.0
            deff = float(variance[k] / srs) if srs > 0 else None
            effective_n = float(s2 * scale_total / variance[k]) if variance[k] > 0 else float("inf")
            if not s2 > 0 and not variance[k] > 0:
                effective_n = np.nan  # 0/0: no spread and no variance
        n_rows, domain_df = _beta_rows_and_df(design, cols.rows(k), by is None) if ci == "beta" else (0, 0)
        low, high = _interval(ci, est, se, df, level, float(np.sqrt(logit_variance[k])), n_rows, domain_df)
        results.append(
            Estimate(
                variable=variable, statistic=statistic, categories=categories, by=by, domain=domain,
                estimate=est, se=se, ci_low=float(low), ci_high=float(high), level=level, ci_method=ci,
                df=df, deff=deff, n=n_k, effective_n=effective_n,
            )
        )
    return results


def _wrap(results: list[Estimate], variable, statistic, by) -> Union[Estimate, DomainEstimates]:
    if by is None:
        return results[0]
    return DomainEstimates(variable, statistic, by, tuple(results))


def proportion(
    design: SurveyDesign,
    variable: str,
    categories: Categories,
    *,
    by: Optional[str] = None,
    ci: CIMethod = "logit",
    level: float = 0.95,
) -> Union[Estimate, DomainEstimates]:
    """Share of non-missing answers of ``variable`` that fall in ``categories``.

    Parameters
    ----------
    design : SurveyDesign
    variable : str
    categories : str or list
        One answer code or several counted together (e.g. very + somewhat likely).
    by : str, optional
        Estimate within every level of this variable (domains), inside the whole design.
    ci : {"logit", "beta", "mean", "xlogit", "asin", "wilson"}
        Interval: "logit" (Wald on the logit scale of a quasi-binomial intercept model;
        with replicates the logit's variance comes from the replicate logits), "beta"
        (Korn & Graubard 1998), "mean" (estimate ± t·se), "xlogit" and "asin"
        (delta method on the transformed scale), "wilson" (statsmodels
        ``proportion_confint`` on the effective sample size).
    level : float
        Confidence level; Student-t quantiles with the design's degrees of freedom.

    Returns
    -------
    Estimate, or DomainEstimates when ``by`` is given.

    Notes
    -----
    A ratio estimator Σw·y / Σw with linearized or replicate variance. Matches R's
    ``svymean(~y, design, na.rm = TRUE, deff = TRUE)`` and ``svyciprop(~y, design, method)``.
    """
    check_choice("ci", ci, PROPORTION_CI)
    level = check_level(level)
    cats = _categories(categories)
    return _wrap(_results(design, variable, "proportion", cats, by, ci, level), variable, "proportion", by)


def mean(
    design: SurveyDesign,
    variable: str,
    *,
    by: Optional[str] = None,
    ci: Literal["mean"] = "mean",
    level: float = 0.95,
) -> Union[Estimate, DomainEstimates]:
    """Weighted mean of a numeric variable over non-missing answers.

    Notes
    -----
    Ratio estimator with interval estimate ± t·se (t with the design's degrees of freedom).
    Matches R's ``svymean(~y, design, na.rm = TRUE)`` and ``confint(..., df = degf(design))``.
    """
    check_choice("ci", ci, MEAN_CI)
    level = check_level(level)
    return _wrap(_results(design, variable, "mean", None, by, ci, level), variable, "mean", by)


def total(
    design: SurveyDesign,
    variable: str,
    categories: Optional[Categories] = None,
    *,
    by: Optional[str] = None,
    ci: Literal["mean"] = "mean",
    level: float = 0.95,
) -> Union[Estimate, DomainEstimates]:
    """Weighted total of a numeric variable, or of the count of ``categories`` answers.

    Notes
    -----
    Horvitz-Thompson-type total Σw·y. Matches R's ``svytotal(~y, design, na.rm = TRUE)``.
    """
    check_choice("ci", ci, MEAN_CI)
    level = check_level(level)
    cats = None if categories is None else _categories(categories)
    return _wrap(_results(design, variable, "total", cats, by, ci, level), variable, "total", by)
