"""Design-based tests: an estimate against a published figure, two domains against each other,
every pair of domains (banner tables' significance letters), the independence of a crosstab and
a whole answer distribution against published shares (Rao-Scott).

``test_against`` and ``test_difference`` are named for the pollster; ``__test__ = False`` keeps
pytest from collecting them when a test module imports them.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal, Optional, Sequence

import numpy as np
import pandas as pd
from analysis._checks import check_choice, check_level
from analysis._checks import column as data_column
from analysis._text import r_text, text_codes
from analysis.design import SurveyDesign, replicate_rank
from analysis.estimates import (
    Categories, Estimate, _categories, _columns, _moments, by_variables, domain_moments, outcome_values, text_values,
)
from analysis.variance import domain_covariance, linearized_covariance, replicate_covariance

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES = ("two-sided", "greater", "less")


def _p_value(statistic, df: float, alternative: str):
    """The t test's p-value: a float, or an array of them for an array of statistics (one call)."""
    from scipy import stats  # loaded only when a test is asked for

    if alternative == "greater":
        p = stats.t.sf(statistic, df)
    elif alternative == "less":
        p = stats.t.cdf(statistic, df)
    else:
        p = 2 * stats.t.sf(np.abs(statistic), df)
    return float(p) if np.ndim(p) == 0 else p


class _OneRow:
    """``to_frame()`` for a test result: one row with every field (tuples as text)."""

    def to_frame(self) -> pd.DataFrame:
        row = {k: (", ".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        return pd.DataFrame([row])


@dataclass(frozen=True)
class WaldTest(_OneRow):
    """A design-based t test of one estimate against a fixed value."""

    estimate: float
    null_value: float
    difference: float
    se: float
    statistic: float
    df: int
    p_value: float
    alternative: str


def test_against(
    estimate: Estimate, value: float, alternative: Alternative = "two-sided", *, df: Optional[int] = None
) -> WaldTest:
    """Test H0: the population value equals ``value`` (e.g. a published 41%).

    Parameters
    ----------
    estimate : Estimate
        A result of :func:`proportion`, :func:`mean` or :func:`total` (one domain).
    value : float
        The published figure, on the estimate's scale (a share as 0.41).
    alternative : {"two-sided", "greater", "less"}
    df : int, optional
        Degrees of freedom of the t distribution; default the design's minus one, as R's
        one-sample ``svyttest``. The spec's ``against`` test passes the design's own, as
        ``svycontrast`` of ``svymean`` does.

    Returns
    -------
    WaldTest

    Notes
    -----
    t = (estimate − value) / se, as R's one-sample ``svyttest(I(y - value) ~ 0, design)``.
    """
    check_choice("alternative", alternative, ALTERNATIVES)
    if not isinstance(estimate, Estimate):
        raise ValueError("test_against needs one Estimate; pick a domain first, e.g. results['dem']")
    df = estimate.df - 1 if df is None else int(df)
    difference = estimate.estimate - float(value)
    statistic = difference / estimate.se
    return WaldTest(estimate.estimate, float(value), difference, estimate.se, statistic, df,
                    _p_value(statistic, df, alternative), alternative)


test_against.__test__ = False  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DifferenceTest(_OneRow):
    """Difference between two domains (second minus first) with its design-based test."""

    variable: str
    by: str
    domains: tuple
    estimates: tuple[float, float]
    difference: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    statistic: float
    df: int
    p_value: float
    alternative: str


def test_difference(
    design: SurveyDesign,
    variable: str,
    by: str,
    domains: Sequence,
    categories: Optional[Categories] = None,
    *,
    level: float = 0.95,
    alternative: Alternative = "two-sided",
) -> DifferenceTest:
    """Test H0: two domains have the same proportion (``categories`` given) or mean.

    Parameters
    ----------
    design : SurveyDesign
    variable : str
    by : str
        The variable whose levels are the domains.
    domains : (first, second)
        The difference is second minus first.
    categories : str or list, optional
        Answers counted as the proportion; omitted: the mean of a numeric variable.
    level : float
        Confidence level of the interval of the difference.
    alternative : {"two-sided", "greater", "less"}

    Returns
    -------
    DifferenceTest

    Notes
    -----
    Both domains are estimated inside the whole design; the covariance of the two estimates
    comes from the design (linearization or replicates). The degrees of freedom are those of
    the two domains' subset minus one, as R's ``svyttest(y ~ by, subset(design, by %in%
    domains))``: first-stage units with a row in either domain minus their strata, or with
    replicate weights the rank of the subset's replicate weights minus one.
    """
    check_choice("alternative", alternative, ALTERNATIVES)
    level = check_level(level)
    if isinstance(domains, str) or len(domains) != 2:
        raise ValueError("domains must be two levels of `by`, e.g. ('dem', 'rep')")
    cats = None if categories is None else _categories(categories)
    values = outcome_values(design, variable, cats)
    cols = _columns(design, values, by)
    positions = []
    for domain in domains:
        matches = [k for k, d in enumerate(cols.domains) if d == domain or str(d) == str(domain)]
        if not matches:
            raise ValueError(f"`{by}` has no level `{domain}` among respondents who answered `{variable}`")
        positions.append(matches[0])
    if positions[0] == positions[1]:
        raise ValueError("domains must be two different levels")
    m = _moments(design, cols, "proportion" if cats is not None else "mean")
    a, b = positions
    difference = float(m.estimate[b] - m.estimate[a])
    variance = m.covariance[a, a] + m.covariance[b, b] - 2 * m.covariance[a, b]
    se = float(np.sqrt(variance))
    used = np.isin(cols.code, [a, b]) & (design.weights != 0)
    if design.replicates is None:
        df = design.domain_degf(used) - 1
    else:  # the rank of the subset's replicate weights, as R's degf() of subset(design, ...)
        df = replicate_rank(design.replicate_weights[used]) - 2
    statistic = difference / se
    from scipy import stats

    t = stats.t.ppf(1 - (1 - level) / 2, df)
    return DifferenceTest(
        variable, by, (cols.domains[a], cols.domains[b]), (float(m.estimate[a]), float(m.estimate[b])),
        difference, se, difference - t * se, difference + t * se, level, statistic, int(df),
        _p_value(statistic, df, alternative), alternative,
    )


test_difference.__test__ = False  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GoodnessOfFit(_OneRow):
    """Rao-Scott test of an answer distribution against target shares."""

    variable: str
    levels: tuple[str, ...]
    observed_shares: tuple[float, ...]
    target_shares: tuple[float, ...]
    statistic: float
    scale: float
    df: float
    p_value: float
    eigenvalues: tuple[float, ...]


def goodness_of_fit(design: SurveyDesign, variable: str, target_shares: Mapping[str, float]) -> GoodnessOfFit:
    """Test whether the answers to ``variable`` follow ``target_shares`` (published shares).

    Parameters
    ----------
    design : SurveyDesign
    variable : str
    target_shares : mapping
        Share of every answer given (missing answers are left out); shares are scaled to
        sum to 1, as R does.

    Returns
    -------
    GoodnessOfFit
        ``statistic`` is Pearson's X² on the estimated totals; ``p_value`` its tail under the
        Satterthwaite approximation (``scale``, ``df``) of the weighted sum of χ²₁ given by
        the eigenvalues of the design covariance of (O − E)/√E.

    Notes
    -----
    Rao & Scott (1981, 1984). Matches R's ``svygofchisq(~variable, p, design)``.
    """
    series = data_column(design.data, variable, "variable")
    if not isinstance(target_shares, Mapping) or not target_shares:
        raise ValueError("target_shares must map each answer to its share")
    levels = tuple(r_text(k) for k in target_shares)
    shares = np.array([float(v) for v in target_shares.values()])
    if np.any(~np.isfinite(shares)) or np.any(shares <= 0):
        raise ValueError(f"target shares for `{variable}` must be positive numbers")
    text = text_values(series)
    answers = set(text.dropna())
    for answer in sorted(answers - set(levels)):
        raise ValueError(f"`{variable}` = `{answer}` has respondents but no target share")
    p = shares / shares.sum()
    present = text.notna().to_numpy()
    indicators = np.column_stack([(text == level).to_numpy() & present for level in levels]).astype(float)
    w = design.weights
    observed = w @ indicators
    if design.replicates is None:
        covariance = linearized_covariance(design, w[:, None] * indicators)
    else:
        covariance = replicate_covariance(design, (indicators.T @ design.replicate_weights).T)
    total_n = observed.sum()
    expected = p * total_n
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    # delta method for v_k = (O_k − p_k N)/√(p_k N), N = Σ O
    jacobian = (np.eye(len(p)) - p[:, None]) / np.sqrt(expected)[:, None]
    jacobian -= ((observed - expected) * p / (2 * expected**1.5))[:, None]
    eigenvalues = np.linalg.eigvalsh(jacobian @ covariance @ jacobian.T)[::-1]
    mean_eigen = eigenvalues.mean()
    ratio = np.mean(eigenvalues**2) / mean_eigen**2
    scale, df = float(mean_eigen * ratio), float(len(p) / ratio)
    from scipy import stats

    return GoodnessOfFit(
        variable, levels, tuple(float(x) for x in observed / total_n), tuple(float(x) for x in p),
        statistic, scale, df, float(stats.chi2.sf(statistic / scale, df)), tuple(float(e) for e in eigenvalues),
    )



@dataclass(frozen=True)
class PairDifference(_OneRow):
    """Domain ``a`` minus domain ``b``, with its design-based t test."""

    a: str
    b: str
    difference: float
    se: float
    statistic: float
    df: int
    p_value: float


@dataclass(frozen=True)
class PairwiseTests:
    """Every pair of domains of ``by`` compared on one proportion or mean."""

    variable: str
    categories: Optional[tuple[str, ...]]
    by: str
    domains: tuple[str, ...]
    estimates: tuple[float, ...]
    pairs: tuple[PairDifference, ...]
    covariance: np.ndarray

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def to_frame(self) -> pd.DataFrame:
        """One row per pair (``a``, ``b``, ``difference``, ``se``, ``statistic``, ``df``, ``p_value``)."""
        columns = ["a", "b", "difference", "se", "statistic", "df", "p_value"]
        return pd.DataFrame([asdict(p) for p in self.pairs], columns=columns)


def pairwise(
    design: SurveyDesign,
    variable: str,
    by: str,
    categories: Optional[Categories] = None,
) -> PairwiseTests:
    """Compare every pair of levels of ``by`` on a proportion (``categories``) or a mean.

    Parameters
    ----------
    design : SurveyDesign
    variable : str
    by : str
        The variable whose levels are the domains (a banner's columns).
    categories : str or list, optional
        Answers counted as the proportion; omitted: the mean of a numeric variable.

    Returns
    -------
    PairwiseTests
        The domains as text in byte order, their estimates and covariance, and for every pair
        a < b the difference estimate(a) − estimate(b), its se, t and two-sided p-value
        (Student's t with the design's degrees of freedom).

    Notes
    -----
    Every domain is estimated inside the whole design and the covariance between domains is
    kept: linearization takes the joint variance of the domains' influence values, replicate
    weights the replicate differences. Matches R's ``svyby(~y, ~by, design, svymean,
    covmat = TRUE)`` followed by ``svycontrast`` for each pair (survey 4.5's alignment of
    the influence values; 4.1-1's ``covmat`` fails on calibrated designs).
    """
    by_names = by_variables(by)
    if len(by_names) != 1:
        raise ValueError("pairwise compares the levels of one `by` variable")
    cats = None if categories is None else _categories(categories)
    cols, m = domain_moments(design, variable, cats, by_names, "proportion" if cats is not None else "mean")
    names = [r_text(d) for d in cols.domains]
    order = sorted(range(cols.k), key=lambda i: names[i].encode())
    df = design.degf
    first, second = np.array(list(itertools.combinations(order, 2)), dtype=np.int64).reshape(-1, 2).T
    differences = m.estimate[first] - m.estimate[second]
    c = m.covariance
    ses = np.sqrt(c[first, first] + c[second, second] - 2 * c[first, second])
    with np.errstate(divide="ignore", invalid="ignore"):  # se 0: t = ±Inf or NaN, as R divides
        statistics = differences / ses
    p_values = _p_value(statistics, df, "two-sided")
    pairs = [PairDifference(names[a], names[b], float(d), float(se), float(t), df, float(p))
             for a, b, d, se, t, p in zip(first, second, differences, ses, statistics, p_values)]
    return PairwiseTests(
        variable, cats, by_names[0], tuple(names[i] for i in order), tuple(float(m.estimate[i]) for i in order),
        tuple(pairs), m.covariance[np.ix_(order, order)],
    )


@dataclass(frozen=True)
class IndependenceTest(_OneRow):
    """Rao-Scott test of independence of a crosstab's rows and columns."""

    row: str
    column: str
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    pearson: float
    statistic: float
    ndf: float
    ddf: float
    p_value: float


def _cell_shares(design: SurveyDesign, cell: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Shares of k cells among the rows in one (``cell[i]``, -1: in none), and their covariance.

    Linearization: row i's influence on the shares is (w_i/W)(e_cell − p), that is the
    domain-coded w/W times (I − 1pᵀ), so the covariance is (I − p1ᵀ) V (I − 1pᵀ) with V the
    domain covariance of w/W, made from per-cell sums without an (n x k) matrix.
    """
    present = cell >= 0
    w = np.where(present, design.weights, 0.0)
    means = np.bincount(cell[present], weights=w[present], minlength=k) / w.sum()
    if design.replicates is None:
        centring = np.eye(k) - means[:, None]
        return means, centring @ domain_covariance(design, w / w.sum(), np.where(present, cell, k), k) @ centring.T
    indicators = np.zeros((design.n, k))
    indicators[np.flatnonzero(present), cell[present]] = 1.0
    rw = design.replicate_weights * present[:, None]
    replicates = (indicators.T @ rw) / rw.sum(axis=0)
    return means, replicate_covariance(design, replicates.T)


def independence(design: SurveyDesign, row: str, column: str) -> IndependenceTest:
    """Test whether two answers are independent (a crosstab), with Rao and Scott's correction.

    Parameters
    ----------
    design : SurveyDesign
    row, column : str
        The two variables; rows missing either answer drop out.

    Returns
    -------
    IndependenceTest
        ``pearson`` is Pearson's X² on the estimated cell shares (per respondent);
        ``statistic`` = X² / tr(Δ) referred to F(``ndf``, ``ddf``) with ndf = tr(Δ)²/tr(Δ²)
        and ddf = ndf · design degrees of freedom.

    Notes
    -----
    Rao & Scott (1984), the second-order correction. Δ = (CᵀD⁻¹C)⁻¹(CᵀD⁻¹VD⁻¹C), with V the
    design covariance of the cell shares, D their diagonal and C the interaction contrasts of
    the saturated cell model. Matches R's ``svychisq(~row + column, design, statistic = "F")``.
    """
    from scipy.special import fdtrc  # the F tail, without importing scipy.stats

    row_codes, row_levels, _ = text_codes(data_column(design.data, row, "row variable"), sort=True)
    col_codes, col_levels, _ = text_codes(data_column(design.data, column, "column variable"), sort=True)
    present = (row_codes >= 0) & (col_codes >= 0) & (design.weights != 0)
    used_rows, used_cols = np.unique(row_codes[present]), np.unique(col_codes[present])
    r, c = len(used_rows), len(used_cols)
    if r < 2 or c < 2:
        raise ValueError(f"`{row}` and `{column}` need two answers each among respondents who gave both")
    ri = np.searchsorted(used_rows, row_codes)
    ci = np.searchsorted(used_cols, col_codes)
    cell = np.where(present, ri + r * ci, -1)  # rows vary fastest, as R's interaction()
    p, v = _cell_shares(design, cell, r * c)
    grid_r, grid_c = np.tile(np.arange(r), c), np.repeat(np.arange(c), r)
    row_dummies = (grid_r[:, None] == np.arange(1, r)[None, :]).astype(float)
    col_dummies = (grid_c[:, None] == np.arange(1, c)[None, :]).astype(float)
    main = np.column_stack([np.ones(r * c), row_dummies, col_dummies])
    interaction = (row_dummies[:, :, None] * col_dummies[:, None, :]).reshape(r * c, -1)
    contrasts = interaction - main @ np.linalg.lstsq(main, interaction, rcond=None)[0]
    inverse_d = np.where(p > 0, 1 / np.where(p > 0, p, 1), 0.0)
    weighted = contrasts * inverse_d[:, None]
    delta = np.linalg.solve(contrasts.T @ weighted, weighted.T @ v @ weighted)
    margin_r = p.reshape(c, r).sum(axis=0)
    margin_c = p.reshape(c, r).sum(axis=1)
    expected = np.outer(margin_c, margin_r).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = float(np.sum(np.where(expected > 0, (p - expected) ** 2 / expected, 0.0)))
    trace = float(np.trace(delta))
    ndf = trace**2 / float(np.trace(delta @ delta))
    ddf = ndf * design.degf
    statistic = pearson / trace
    return IndependenceTest(
        row, column, tuple(row_levels[used_rows]), tuple(col_levels[used_cols]), pearson, statistic, ndf, ddf,
        float(fdtrc(ndf, ddf, statistic)),
    )
