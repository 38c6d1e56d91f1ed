"""Design-based tests: an estimate against a published figure, two domains against each other,
and a whole answer distribution against published shares (Rao-Scott).

``test_against`` and ``test_difference`` are named for the pollster; ``__test__ = False`` keeps
pytest from collecting them when a test module imports them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import numpy as np
from scipy import stats

from analysis._checks import check_choice, check_level, column
from analysis.design import SurveyDesign
from analysis.estimates import Categories, Estimate, _categories, _columns, _moments, outcome_values, text_values
from analysis.variance import linearized_covariance, replicate_covariance

Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES = ("two-sided", "greater", "less")


def _p_value(statistic: float, df: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.t.sf(statistic, df))
    if alternative == "less":
        return float(stats.t.cdf(statistic, df))
    return float(2 * stats.t.sf(abs(statistic), df))


@dataclass(frozen=True)
class WaldTest:
    """A design-based t test of one estimate against a fixed value."""

    estimate: float
    null_value: float
    difference: float
    se: float
    statistic: float
    df: int
    p_value: float
    alternative: str


def test_against(estimate: Estimate, value: float, alternative: Alternative = "two-sided") -> WaldTest:
    """Test H0: the population value equals ``value`` (e.g. a published 41%).

    Parameters
    ----------
    estimate : Estimate
        A result of :func:`proportion`, :func:`mean` or :func:`total` (one domain).
    value : float
        The published figure, on the estimate's scale (a share as 0.41).
    alternative : {"two-sided", "greater", "less"}

    Returns
    -------
    WaldTest

    Notes
    -----
    t = (estimate − value) / se with the design's degrees of freedom minus one, as R's
    one-sample ``svyttest(I(y - value) ~ 0, design)``.
    """
    check_choice("alternative", alternative, ALTERNATIVES)
    if not isinstance(estimate, Estimate):
        raise ValueError("test_against needs one Estimate; pick a domain first, e.g. results['dem']")
    df = estimate.df - 1
    difference = estimate.estimate - float(value)
    statistic = difference / estimate.se
    return WaldTest(estimate.estimate, float(value), difference, estimate.se, statistic, df,
                    _p_value(statistic, df, alternative), alternative)


test_against.__test__ = False  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DifferenceTest:
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
    the first-stage units with a row in either domain minus their strata, minus one, as R's
    ``svyttest(y ~ by, subset(design, by %in% domains))``.
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
    if design.replicates is None:
        used = np.isin(cols.code, [a, b]) & (design.weights != 0)
        df = design.domain_degf(used) - 1
    else:
        df = design.degf - 1
    statistic = difference / se
    t = stats.t.ppf(1 - (1 - level) / 2, df)
    return DifferenceTest(
        variable, by, (cols.domains[a], cols.domains[b]), (float(m.estimate[a]), float(m.estimate[b])),
        difference, se, difference - t * se, difference + t * se, level, statistic, int(df),
        _p_value(statistic, df, alternative), alternative,
    )


test_difference.__test__ = False  # type: ignore[attr-defined]


@dataclass(frozen=True)
class GoodnessOfFit:
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
    series = column(design.data, variable, "variable")
    if not isinstance(target_shares, Mapping) or not target_shares:
        raise ValueError("target_shares must map each answer to its share")
    levels = tuple(str(k) for k in target_shares)
    shares = np.array([float(v) for v in target_shares.values()])
    if np.any(~np.isfinite(shares)) or np.any(shares <= 0):
        raise ValueError(f"target shares for `{variable}` must be positive numbers")
    text = text_values(series)
    answers = set(text.dropna())
    for answer in sorted(answers - set(levels)):
        raise ValueError(f"`{variable}` = `{answer}` has respondents but no target share")
    for level in levels:
        if level not in answers:
            raise ValueError(f"target level `{level}` of `{variable}` has no respondents")
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
    return GoodnessOfFit(
        variable, levels, tuple(float(x) for x in observed / total_n), tuple(float(x) for x in p),
        statistic, scale, df, float(stats.chi2.sf(statistic / scale, df)), tuple(float(e) for e in eigenvalues),
    )

