"""Design-based estimates: proportions, means and totals, for the sample and for domains.

Every domain is estimated inside the whole design: rows outside the domain (or with a
missing answer) stay in the design with zero influence, so strata, clusters and weighting
residuals are those of the whole sample (R's ``svymean(~y, subset(design, by == level))``).
"""
from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal, Optional, Union

import numpy as np
import pandas as pd
from scipy import special

from analysis._checks import check_choice, check_level, column
from analysis._text import r_text, text_codes
from analysis.design import CELL_SEPARATOR, SurveyDesign, replicate_rank
from analysis.exceptions import CategoryWarning
from analysis.variance import domain_covariance, replicate_covariance

if TYPE_CHECKING:
    import scipy.sparse as sp

CIMethod = Literal["logit", "beta", "mean", "xlogit", "asin", "wilson"]
PROPORTION_CI = ("logit", "beta", "mean", "xlogit", "asin", "wilson")
MEAN_CI = ("mean",)
Categories = Union[str, int, float, Sequence[Union[str, int, float]]]
By = Union[None, str, Sequence[str]]


@dataclass(frozen=True)
class Estimate:
    """One estimate with its design-based uncertainty.

    ``n`` is the unweighted number of rows behind the estimate (rows of the domain with an
    answer, whatever their weight); ``effective_n`` the weighted population variance over the
    design variance (p(1-p)/var for a proportion); ``deff`` the design effect against simple
    random sampling (None when the weights were never scaled to a population, as R, and for
    ratios and quantiles); ``df`` the design degrees of freedom used by the interval. ``by``
    names the domain variables (several joined by ``|``); ``domain`` is the level (crossed:
    the levels as text joined by ``|``); ``statistic`` is proportion, mean, total, ratio or
    ``quantile 0.5``.
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
    if isinstance(categories, (str, int, float, bool, np.bool_)):
        categories = [categories]
    cats = tuple(r_text(c) for c in categories)
    if not cats:
        raise ValueError("categories must name at least one answer")
    return cats


def text_values(series: pd.Series) -> pd.Series:
    """The answers of ``series`` as text, as R writes them (missing stays missing)."""
    codes, texts, _ = text_codes(series)
    out = np.full(len(series), None, dtype=object)
    out[codes >= 0] = texts[codes[codes >= 0]]
    return pd.Series(out, index=series.index)


def outcome_values(design: SurveyDesign, variable: str, categories: Optional[tuple[str, ...]]) -> np.ndarray:
    """The analysis variable as floats: 1/0 for membership of ``categories``, NaN when missing.

    A text category that matches no answer at all warns (``CategoryWarning``), naming the
    answers that exist: it is nearly always a typo, or YAML reading an unquoted ``yes`` as
    true. A number among numeric answers (a 0/1 option, a scale point) that nobody chose is
    a plain 0 and does not warn.
    """
    if categories is not None:
        codes, texts, _ = design.answer_codes(variable)
        dtype = design.data.dtypes[variable]
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        unmatched = [c for c in categories if c not in set(texts) and not (numeric and _is_number(c))]
        if unmatched:
            shown = ", ".join(sorted(texts)[:20]) or "none"
            hint = " (YAML reads an unquoted yes/no/on/off as true/false: quote it)" if set(unmatched) & {"TRUE", "FALSE"} else ""
            warnings.warn(
                f"`{variable}`: no answer is {', '.join(f'`{c}`' for c in unmatched)}{hint}; its answers are {shown}",
                CategoryWarning, stacklevel=3,
            )
        # each answer's 1/0, and NaN last for code -1 (missing): one gather over the rows
        return np.append(np.isin(texts, list(categories)).astype(float), np.nan)[codes]
    series = column(design.data, variable, "variable")
    present = series.notna().to_numpy()
    values = pd.to_numeric(series, errors="coerce").to_numpy(float)
    bad = present & np.isnan(values)
    if bad.any():
        example = series[bad].iloc[0]
        raise ValueError(f"`{variable}` is not numeric (e.g. `{example}`); use proportion() for categories")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def by_variables(by: By) -> Optional[tuple[str, ...]]:
    """``by`` as a tuple of variable names (None: the whole sample)."""
    if by is None:
        return None
    names = (by,) if isinstance(by, str) else tuple(str(b) for b in by)
    if not names:
        raise ValueError("by must name at least one variable")
    return names


def domain_codes(data: pd.DataFrame, by: tuple[str, ...]) -> tuple[tuple, np.ndarray]:
    """The domains of ``by`` present in ``data`` and the domain of every row (-1: a `by` missing).

    One variable: its levels sorted, as the data has them (a number stays a number). Several:
    every combination present, named by the levels as R writes them joined by ``|``
    (``"dem|18-29"``), sorted by the levels of the first variable, then the second...
    """
    per_variable = [text_codes(column(data, b, "`by` variable"), sort=True) for b in by]
    if len(by) == 1:
        codes, _, values = per_variable[0]
        return tuple(_domain_label(v) for v in values), codes.astype(np.int64)
    key = np.zeros(len(data), dtype=np.int64)
    missing = np.zeros(len(data), dtype=bool)
    for codes, texts, _ in per_variable:
        key = key * len(texts) + np.maximum(codes, 0)
        missing |= codes < 0
    keys, inverse = np.unique(key[~missing], return_inverse=True)
    codes = np.full(len(data), -1, dtype=np.int64)
    codes[~missing] = inverse
    labels = []
    for k in keys:
        parts = []
        for _, texts, _ in reversed(per_variable):
            parts.append(texts[k % len(texts)])
            k //= len(texts)
        labels.append(CELL_SEPARATOR.join(reversed(parts)))
    return tuple(labels), codes


def _domain_label(value):
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return int(value) if float(value).is_integer() else float(value)
    return value


@dataclass(frozen=True)
class _Columns:
    """The values behind k estimates: one per domain, each row in at most one domain.

    ``slot[i]`` is the domain of row i among rows with a value, and ``k`` (one past the last
    domain) for a missing value or no domain; ``by_slot`` the domain of every row whatever its
    value (``k``: ``by`` missing). A per-domain sum is then one bincount over every row with a
    last bin for the rows left out, dropped after: the same additions in the same order as
    summing the rows of the domains alone, without first copying them out (a pass per array).
    ``denominator`` (ratios) is the value the numerator is divided by; None: 1 (means).
    """

    values: np.ndarray
    slot: np.ndarray
    by_slot: np.ndarray
    domains: tuple
    denominator: Optional[np.ndarray] = None

    @property
    def k(self) -> int:
        return len(self.domains)

    @cached_property
    def code(self) -> np.ndarray:
        """The domain of each row among rows with a value, -1 for none (for masks and indexing)."""
        return np.where(self.slot < self.k, self.slot, -1)

    def rows(self, k: int) -> np.ndarray:
        """Rows of domain ``k`` (whatever their value), as R's ``subset(design, by == level)``."""
        return self.by_slot == k

    def sums(self, per_row: np.ndarray) -> np.ndarray:
        """Sums of ``per_row`` over the rows of each domain; the rows left out may hold anything."""
        return np.bincount(self.slot, weights=per_row, minlength=self.k + 1)[: self.k]

    def indicator(self, per_row: np.ndarray) -> sp.csr_matrix:
        """Sparse (k x n) matrix with ``per_row`` at (domain, row): sums any column per domain."""
        import scipy.sparse as sp  # replicate designs only

        inside = np.flatnonzero(self.slot < self.k)
        return sp.csr_matrix((per_row[inside], (self.slot[inside], inside)), shape=(self.k, len(per_row)))

    @cached_property
    def counts(self) -> np.ndarray:
        """Rows with a value per domain, whatever their weight: the ``n`` of each estimate."""
        return np.bincount(self.slot, minlength=self.k + 1)[: self.k]


def _columns(design: SurveyDesign, values: np.ndarray, by: By, denominator: Optional[np.ndarray] = None) -> _Columns:
    by = by_variables(by)
    valid = ~np.isnan(values) if denominator is None else ~np.isnan(values) & ~np.isnan(denominator)
    if by is None:
        by_slot = np.zeros(design.n, dtype=np.int64)
        domains: tuple = (None,)
    else:
        domains, by_slot = design.domains(by, _domain_slots)
    return _Columns(values, np.where(valid, by_slot, len(domains)), by_slot, domains, denominator)


def _domain_slots(data: pd.DataFrame, by: tuple[str, ...]) -> tuple[tuple, np.ndarray]:
    """:func:`domain_codes` with the rows of no domain in slot k (one past the last domain)."""
    domains, codes = domain_codes(data, by)
    return domains, np.where(codes >= 0, codes, len(domains))


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
    """Ratio (mean, proportion, ratio) or total estimates per domain, with their covariance.

    Linearization: influence values w(y − R̂·x)/X̂ (ratio of totals of y and x, x = 1 for a
    mean) or w·y (total) in each domain's column, zero outside it; replicates: the estimate
    recomputed with every replicate's weights. Every per-row array spans all rows: the rows
    left out (``cols.slot`` = k) meet a 0 mean and a 1 total, and their sums are dropped.
    """
    w, k, slot = design.weights, cols.k, cols.slot
    y, x = cols.values, cols.denominator  # x = None for a mean or proportion: left out rather than multiplied by
    nonzero = w != 0  # the estimate's n counts rows of non-zero weight: all rows with a value, most often
    counts = cols.counts if nonzero.all() else np.bincount(slot[nonzero], minlength=k + 1)[:k]
    with np.errstate(divide="ignore", invalid="ignore"):
        population = cols.sums(w if x is None else w * x)
        numerator = cols.sums(w * y)
        mean = numerator / population
        estimate = numerator if statistic == "total" else mean
        row_mean = np.append(mean, 0.0)[slot]
        centred = y - (row_mean if x is None else row_mean * x)
        population_variance = cols.sums(w * centred**2) / population
        if design.replicates is None:
            if statistic == "total":
                per_row = w * y
            else:
                per_row = w * centred / np.append(population, 1.0)[slot]
            covariance = domain_covariance(design, per_row, slot, k)
            replicates = None
        else:
            rw = design.replicate_weights
            rep_num = cols.indicator(y) @ rw
            if statistic != "total":
                rep_num = rep_num / (cols.indicator(np.ones(design.n) if x is None else x) @ rw)
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


_DOMAIN_MOMENTS: "weakref.WeakKeyDictionary[SurveyDesign, dict]" = weakref.WeakKeyDictionary()


def domain_moments(design: SurveyDesign, variable: str, categories: Optional[tuple[str, ...]],
                   by: Optional[tuple[str, ...]], statistic: str) -> tuple[_Columns, _Moments]:
    """The columns and moments of ``variable``'s estimate in every domain of ``by``.

    The moments (a few numbers per domain) are kept per design, which never changes, so a
    banner's pairwise tests reuse its domain estimates' covariance instead of recomputing it.
    """
    cols = _columns(design, outcome_values(design, variable, categories), by)
    memo = _DOMAIN_MOMENTS.setdefault(design, {})
    key = (variable, categories, by, statistic == "total")
    if key not in memo:
        memo[key] = _moments(design, cols, statistic)
    return cols, memo[key]


def _results(design, cols: _Columns, m: _Moments, variable, statistic, categories, by, ci, level) -> list[Estimate]:
    variance = np.diag(m.covariance)
    with np.errstate(divide="ignore", invalid="ignore"):  # p = 0 or 1: infinite logits
        if ci == "logit" and m.replicates is not None:
            logit_variance = np.diag(replicate_covariance(design, _logit(m.replicates)))
        else:
            logit_variance = variance / (m.estimate * (1 - m.estimate)) ** 2
    df = design.degf
    rows_with_value = cols.counts
    results = []
    for k, domain in enumerate(cols.domains):
        n_k, big_n = int(m.counts[k]), float(m.population[k])
        est = float(m.estimate[k])
        # a domain with no answers has no ratio and no variance (its total is 0 with variance 0)
        se = float(np.sqrt(variance[k])) if n_k or statistic == "total" else np.nan
        s2 = float(m.population_variance[k])
        scale_total = big_n**2 if statistic == "total" else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            # None where R's deff is NaN/Inf: one respondent, or no spread (p = 0 or 1); a ratio has none
            srs = s2 * (big_n - n_k) / (n_k - 1) / big_n * scale_total if big_n > n_k > 1 else 0.0
            deff = float(variance[k] / srs) if srs > 0 and statistic != "ratio" else None
            effective_n = float(s2 * scale_total / variance[k]) if variance[k] > 0 else float("inf")
            if not s2 > 0 and not variance[k] > 0:
                effective_n = np.nan  # 0/0: no spread and no variance
        n_rows, domain_df = _beta_rows_and_df(design, cols.rows(k), by is None) if ci == "beta" else (0, 0)
        low, high = _interval(ci, est, se, df, level, float(np.sqrt(logit_variance[k])), n_rows, domain_df)
        results.append(
            Estimate(
                variable=variable, statistic=statistic, categories=categories, by=_by_name(by), domain=domain,
                estimate=est, se=se, ci_low=float(low), ci_high=float(high), level=level, ci_method=ci,
                df=df, deff=deff, n=int(rows_with_value[k]), effective_n=effective_n,
            )
        )
    return results


def _by_name(by: Optional[tuple[str, ...]]) -> Optional[str]:
    return None if by is None else CELL_SEPARATOR.join(by)


def _wrap(results: list[Estimate], variable, statistic, by) -> Union[Estimate, DomainEstimates]:
    if by is None:
        return results[0]
    return DomainEstimates(variable, statistic, _by_name(by), tuple(results))


def _estimates(design, variable, statistic, categories, by, ci, level) -> Union[Estimate, DomainEstimates]:
    by = by_variables(by)
    cols, m = domain_moments(design, variable, categories, by, statistic)
    return _wrap(_results(design, cols, m, variable, statistic, categories, by, ci, level), variable, statistic, by)


def proportion(
    design: SurveyDesign,
    variable: str,
    categories: Categories,
    *,
    by: By = None,
    ci: CIMethod = "logit",
    level: float = 0.95,
) -> Union[Estimate, DomainEstimates]:
    """Share of non-missing answers of ``variable`` that fall in ``categories``.

    Parameters
    ----------
    design : SurveyDesign
    variable : str
    categories : str or list
        One answer or several counted together (e.g. very + somewhat likely), spelled as R
        writes them (``TRUE`` for a logical column, ``1`` for a whole number). One that
        matches no answer warns ``CategoryWarning``.
    by : str or list of str, optional
        Estimate within every level of this variable (domains), inside the whole design;
        a list crosses the variables (domains named ``"dem|18-29"``).
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
    return _estimates(design, variable, "proportion", _categories(categories), by, ci, level)


def mean(
    design: SurveyDesign,
    variable: str,
    *,
    by: By = None,
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
    return _estimates(design, variable, "mean", None, by, ci, level)


def total(
    design: SurveyDesign,
    variable: str,
    categories: Optional[Categories] = None,
    *,
    by: By = None,
    ci: Literal["mean"] = "mean",
    level: float = 0.95,
) -> Union[Estimate, DomainEstimates]:
    """Weighted total of a numeric variable, or the estimated number of people in ``categories``.

    Parameters
    ----------
    design : SurveyDesign
    variable : str
    categories : str or list, optional
        Count the answers in these categories (1/0); omitted: the total of a numeric variable.
    by : str or list of str, optional
        Domains, as for :func:`proportion`.
    ci : {"mean"}
        Interval estimate ± t·se, t with the design's degrees of freedom.
    level : float

    Returns
    -------
    Estimate, or DomainEstimates when ``by`` is given.

    Notes
    -----
    Σw·y over the domain's rows with an answer, variance from the influence values w·y.
    Matches R's ``svytotal(~y, design, na.rm = TRUE, deff = TRUE)``; its ``deff`` includes
    the randomness of a domain's size.
    """
    check_choice("ci", ci, MEAN_CI)
    level = check_level(level)
    cats = None if categories is None else _categories(categories)
    return _estimates(design, variable, "total", cats, by, ci, level)


def ratio(
    design: SurveyDesign,
    numerator: str,
    denominator: str,
    *,
    by: By = None,
    level: float = 0.95,
) -> Union[Estimate, DomainEstimates]:
    """Ratio of two totals, Σw·numerator / Σw·denominator, over rows with both present.

    Parameters
    ----------
    design : SurveyDesign
    numerator, denominator : str
        Numeric columns (e.g. housing costs and income: the share of income spent on housing).
    by : str or list of str, optional
        Domains, as for :func:`proportion`.
    level : float
        Interval estimate ± t·se, t with the design's degrees of freedom.

    Returns
    -------
    Estimate (``variable`` is ``"numerator/denominator"``, ``deff`` None), or DomainEstimates.

    Notes
    -----
    Linearization uses the influence values w·(num − R̂·den)/Σw·den; replicate weights the
    ratio of every replicate's totals. Matches R's ``svyratio(~num, ~den, design, na.rm = TRUE)``.
    """
    level = check_level(level)
    by = by_variables(by)
    num = outcome_values(design, numerator, None)
    den = outcome_values(design, denominator, None)
    cols = _columns(design, num, by, denominator=den)
    name = f"{numerator}/{denominator}"
    return _wrap(_results(design, cols, _moments(design, cols, "ratio"), name, "ratio", None, by, "mean", level), name,
                 "ratio", by)


def quantile_rule(values: np.ndarray, weights: np.ndarray, p: float) -> float:
    """R's ``qrule_math``: the smallest value whose weighted share at or below it reaches ``p``.

    Values sorted (ties keep their order), c_k the cumulative weights, W their sum; pos the
    last k with c_k ≤ p·W (the first if none); x_pos when p − c_pos/W is exactly 0, else
    x_pos+1. So when p·W is below the first weight the result is the second smallest value,
    as in R 4.1-1.
    """
    order = np.argsort(values, kind="stable")
    x, c = values[order], np.cumsum(weights[order])
    total_weight = c[-1]
    pos = max(int(np.searchsorted(c, p * total_weight, side="right")) - 1, 0)
    if p - c[pos] / total_weight == 0 or pos == len(x) - 1:
        return float(x[pos])
    return float(x[pos + 1])


def quantile(
    design: SurveyDesign,
    variable: str,
    q: float,
    *,
    by: By = None,
    level: float = 0.95,
) -> Union[Estimate, DomainEstimates]:
    """Quantile ``q`` (0.5: the median) of a numeric variable, with Woodruff's interval.

    Parameters
    ----------
    design : SurveyDesign
    variable : str
    q : float
        The probability, between 0 and 1.
    by : str or list of str, optional
        Domains, as for :func:`proportion`.
    level : float
        Confidence level of the interval.

    Returns
    -------
    Estimate, or DomainEstimates. ``deff`` is None; ``ci_low``/``ci_high`` are NaN where the
    interval of the proportion leaves [0, 1], and ``se`` = (ci_high − ci_low)/(2t) is then NaN.

    Notes
    -----
    Matches R's ``svyquantile(~y, design, q, ci = TRUE, df = degf(design))`` with survey
    4.1-1's defaults (``qrule = "math"``, ``interval.type = "mean"``): the estimate by
    :func:`quantile_rule`; p̂ the estimated share of the domain at or below it, with its
    design se (calibration residuals or replicates); the limits the quantiles at
    p̂ ∓ t·se (Woodruff 1952), t from Student's t with the whole design's degrees of freedom.
    """
    from scipy.special import stdtrit  # Student t quantile, without importing scipy.stats

    level = check_level(level)
    if not 0 < q < 1:
        raise ValueError(f"q={q!r} must be between 0 and 1 (0.5 for the median)")
    by = by_variables(by)
    values = outcome_values(design, variable, None)
    cols = _columns(design, values, by)
    w = design.weights
    used = (cols.code >= 0) & (w != 0)
    estimates = np.full(cols.k, np.nan)
    for k in range(cols.k):
        rows = used & (cols.code == k)
        if rows.any():
            estimates[k] = quantile_rule(values[rows], w[rows], q)
    with np.errstate(invalid="ignore"):
        below = np.where(cols.code >= 0, values <= estimates[np.maximum(cols.code, 0)], np.nan)
    shares = _moments(design, dataclasses.replace(cols, values=below), "mean")
    t = float(stdtrit(design.degf, 1 - (1 - level) / 2))
    counts = cols.counts
    results = []
    for k, domain in enumerate(cols.domains):
        rows = used & (cols.code == k)
        half = t * np.sqrt(shares.covariance[k, k])
        low_p, high_p = shares.estimate[k] - half, shares.estimate[k] + half
        low = quantile_rule(values[rows], w[rows], low_p) if rows.any() and low_p >= 0 else np.nan
        high = quantile_rule(values[rows], w[rows], high_p) if rows.any() and high_p <= 1 else np.nan
        results.append(Estimate(
            variable=variable, statistic=f"quantile {q:g}", categories=None, by=_by_name(by), domain=domain,
            estimate=float(estimates[k]), se=float((high - low) / (2 * t)), ci_low=float(low), ci_high=float(high),
            level=level, ci_method="woodruff", df=design.degf, deff=None, n=int(counts[k]), effective_n=np.nan,
        ))
    return _wrap(results, variable, "quantile", by)
