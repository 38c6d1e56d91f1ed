"""Design-based tests agree with R survey 4.1-1 (values from reference/inference_tests.R)."""
from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from analysis import SurveyDesign, proportion
from analysis.inference import goodness_of_fit, independence, pairwise, test_against, test_difference


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


def test_pairwise_keeps_the_covariance_between_domains(raked):
    pairs = pairwise(raked, "calexit", "party", categories="yes")
    assert pairs.domains == ("dem", "npp", "other", "rep") and len(pairs) == 6
    dem_rep = next(p for p in pairs if (p.a, p.b) == ("dem", "rep"))
    single = test_difference(raked, "calexit", "party", ("dem", "rep"), categories=["yes"])
    assert_allclose([dem_rep.difference, dem_rep.se], [-single.difference, single.se], rtol=1e-12)
    assert dem_rep.df == raked.degf and dem_rep.p_value < 1e-6
    frame = pairs.to_frame()
    assert list(frame.columns) == ["a", "b", "difference", "se", "statistic", "df", "p_value"] and len(frame) == 6


def test_independence_of_a_two_by_two_table_has_one_numerator_df(poll):
    design = SurveyDesign(poll.assign(yes=poll["calexit"] == "yes"), weights="base_weight", strata="stratum",
                          cluster="psu")
    result = independence(design, "yes", "sex")
    assert result.rows == ("FALSE", "TRUE") and result.columns == ("female", "male")
    assert_allclose(result.ndf, 1.0) and result.ddf == design.degf
    larger = independence(design, "party", "calexit")
    assert 1 < larger.ndf <= 6 and 0 <= larger.p_value <= 1


def test_every_test_result_has_to_frame(raked):
    likely = proportion(raked, "civil_war_5yr", ["very_likely", "somewhat_likely"])
    results = [
        test_against(likely, 0.41),
        test_difference(raked, "trust", "sex", ("female", "male")),
        goodness_of_fit(raked, "party", {"dem": 0.45, "npp": 0.22, "other": 0.08, "rep": 0.25}),
        independence(raked, "calexit", "party"),
    ]
    for result in results:
        frame = result.to_frame()
        assert len(frame) == 1 and frame.loc[0, "p_value"] == result.p_value


def test_pairwise_with_domains_of_no_variance_divides_as_r_does():
    """Everyone in `a` says yes and nobody in `b` or `c` does: the differences have se 0, so t is
    Inf (a real difference, p = 0) or NaN (no difference, no p), never a ZeroDivisionError."""
    import math

    import pandas as pd

    frame = pd.DataFrame({"group": ["a"] * 4 + ["b"] * 4 + ["c"] * 4 + ["d"] * 4,
                          "answer": ["yes"] * 4 + ["no"] * 8 + ["yes", "no", "yes", "no"]})
    pairs = {(p.a, p.b): p for p in pairwise(SurveyDesign(frame), "answer", "group", categories=["yes"])}
    assert pairs[("a", "b")].se == 0 and pairs[("a", "b")].statistic == math.inf and pairs[("a", "b")].p_value == 0
    assert math.isnan(pairs[("b", "c")].statistic) and math.isnan(pairs[("b", "c")].p_value)
    assert pairs[("a", "d")].se > 0 and 0 < pairs[("a", "d")].p_value < 1
