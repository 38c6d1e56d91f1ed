"""Design-based tests agree with R survey 4.1-1 (values from reference/inference_tests.R)."""
from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from analysis import proportion
from analysis.inference import goodness_of_fit, test_against, test_difference


def test_against_a_published_figure_matches_svyttest(raked):
    # svyttest(I(likely - 0.41) ~ 0, des, na.rm = TRUE)
    likely = proportion(raked, "civil_war_5yr", ["very_likely", "somewhat_likely"])
    result = test_against(likely, 0.41)
    assert result.df == 183
    assert_allclose(result.statistic, 2.88626548115441, rtol=1e-6)
    assert_allclose(result.p_value, 0.00436749556360913, atol=1e-9)
    assert_allclose(result.difference, likely.estimate - 0.41)


def test_one_sided_p_values_split_the_two_sided_one(raked):
    likely = proportion(raked, "civil_war_5yr", ["very_likely", "somewhat_likely"])
    two, greater, less = (test_against(likely, 0.41, alt) for alt in ("two-sided", "greater", "less"))
    assert_allclose(greater.p_value * 2, two.p_value)
    assert_allclose(greater.p_value + less.p_value, 1.0)
    with pytest.raises(ValueError, match="alternative='bigger' is not one of"):
        test_against(likely, 0.41, "bigger")


def test_difference_between_domains_matches_svyttest(raked):
    # svyttest(yes ~ I(party == "rep"), subset(des, party %in% c("dem", "rep")))
    result = test_difference(raked, "calexit", "party", ("dem", "rep"), categories=["yes"])
    assert result.df == 183
    assert_allclose(result.difference, -0.16837613617876, rtol=1e-6)
    assert_allclose(result.statistic, -6.53338454502562, rtol=1e-6)
    assert_allclose(result.p_value, 6.17942575689685e-10, atol=1e-12)
    assert result.ci_low < result.difference < result.ci_high


def test_difference_of_means_matches_svyttest(raked):
    # svyttest(trust ~ sex, des)
    result = test_difference(raked, "trust", "sex", ("female", "male"))
    assert_allclose(result.difference, 0.204222478992402, rtol=1e-6)
    assert_allclose(result.statistic, 1.28282671070826, rtol=1e-6)
    assert_allclose(result.p_value, 0.201175171225084, atol=1e-9)


def test_difference_names_a_missing_domain(raked):
    with pytest.raises(ValueError, match="`party` has no level `green`"):
        test_difference(raked, "calexit", "party", ("dem", "green"), categories="yes")


def test_goodness_of_fit_matches_svygofchisq(raked):
    # svygofchisq(~party, p = c(0.45, 0.22, 0.08, 0.25), des)
    result = goodness_of_fit(raked, "party", {"dem": 0.45, "npp": 0.22, "other": 0.08, "rep": 0.25})
    assert_allclose(result.statistic, 205907.038198035, rtol=1e-6)
    assert_allclose([result.scale, result.df], [32738.6406641822, 2.77229345570413], rtol=1e-6)
    assert_allclose(result.p_value, 0.0835035190762838, atol=1e-8)


def test_goodness_of_fit_needs_every_answer(raked):
    with pytest.raises(ValueError, match="`party` = `rep` has respondents but no target share"):
        goodness_of_fit(raked, "party", {"dem": 0.5, "npp": 0.3, "other": 0.2})
