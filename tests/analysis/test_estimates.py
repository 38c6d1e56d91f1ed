"""Estimates: results objects, interval choices, domains, totals, regression options."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.proportion import proportion_confint

from analysis import DomainEstimates, Estimate, SurveyDesign, mean, proportion, rake, ratio, svyglm, total
from analysis.estimates import quantile_rule

from .conftest import MARGINS


def test_an_estimate_is_a_small_frozen_result(raked):
    est = proportion(raked, "calexit", "yes", ci="beta")
    assert isinstance(est, Estimate) and est.domain is None and est.categories == ("yes",)
    with pytest.raises(AttributeError):
        est.estimate = 0.5  # type: ignore[misc]
    row = est.to_frame()
    assert list(row.columns[:5]) == ["variable", "statistic", "categories", "by", "domain"]
    assert row.loc[0, "estimate"] == est.estimate and est.ci_low < est.estimate < est.ci_high
    assert est.n == raked.n and est.df == raked.degf
    assert_allclose(est.effective_n, est.estimate * (1 - est.estimate) / est.se**2)


def test_domains_are_sorted_and_addressable(raked):
    by_party = proportion(raked, "calexit", ["yes"], by="party")
    assert isinstance(by_party, DomainEstimates)
    assert by_party.domains == ("dem", "npp", "other", "rep")
    assert by_party["rep"].domain == "rep" and len(by_party.to_frame()) == 4
    assert sum(e.n for e in by_party) == raked.data["party"].notna().sum()
    with pytest.raises(KeyError, match="`party` has no level `green`"):
        by_party["green"]


def test_wilson_interval_uses_the_effective_sample_size(raked):
    est = proportion(raked, "civil_war_5yr", ["very_likely"], ci="wilson", level=0.9)
    n_eff = est.estimate * (1 - est.estimate) / est.se**2
    low, high = proportion_confint(est.estimate * n_eff, n_eff, alpha=0.1, method="wilson")
    assert_allclose([est.ci_low, est.ci_high], [low, high])


def test_total_of_a_category_is_the_weighted_count(raked):
    yes = total(raked, "calexit", "yes")
    share = proportion(raked, "calexit", "yes", ci="mean")
    assert_allclose(yes.estimate, share.estimate * raked.population_size)
    assert yes.deff is not None and yes.deff > 0
    trust = total(raked, "trust", by="sex")
    mean_trust = mean(raked, "trust", by="sex")
    for t, m in zip(trust, mean_trust):
        rows = (raked.data["sex"] == t.domain) & raked.data["trust"].notna()
        assert_allclose(t.estimate, m.estimate * raked.weights[rows.to_numpy()].sum())


def test_unscaled_weights_have_no_design_effect(poll):
    est = proportion(SurveyDesign(poll), "calexit", "yes")
    assert est.deff is None


def test_numeric_answer_codes_match_text_categories():
    frame = pd.DataFrame({"q": [1.0, 2.0, 2.0, np.nan, 1.0, 2.0], "w": [1, 2, 1, 1, 1, 1.0]})
    est = proportion(SurveyDesign(frame, weights="w"), "q", 2, ci="mean")
    assert_allclose(est.estimate, 4 / 6)
    assert est.n == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: proportion(d, "calexit", "yes", ci="wald"), "ci='wald' is not one of"),
        (lambda d: mean(d, "trust", ci="logit"), "ci='logit' is not one of 'mean'"),
        (lambda d: proportion(d, "calexit", "yes", level=95), "level=95 must be between 0 and 1"),
        (lambda d: mean(d, "calexit"), "`calexit` is not numeric"),
        (lambda d: proportion(d, "colour", "red"), "variable `colour` is not a column"),
        (lambda d: svyglm(d, "trust", ["party"], family="poisson"), "family='poisson' is not one of"),
        (lambda d: svyglm(d, "calexit", ["party"], family="binomial"), "needs `categories`"),
        (lambda d: svyglm(d, "trust", ["party"], reference={"party": "green"}), "reference level `green` of `party`"),
    ],
)
def test_bad_choices_name_the_value(raked, call, message):
    with pytest.raises(ValueError, match=message):
        call(raked)


def test_regression_terms_and_reference_levels(raked):
    fit = svyglm(raked, "calexit", ["party", "trust"], family="binomial", categories=["yes"],
                 reference={"party": "rep"})
    assert [c.term for c in fit.coefficients] == ["intercept", "party=dem", "party=npp", "party=other", "trust"]
    frame = fit.to_frame()
    assert list(frame["term"]) == [c.term for c in fit.coefficients]
    assert fit["party=dem"].p_value < 0.05 and fit["party=dem"].estimate > 0
    assert fit.n == (raked.data["trust"].notna() & raked.data["party"].notna()).sum()


def test_replicate_and_linearized_errors_agree_roughly(clustered):
    linear = proportion(clustered, "civil_war_5yr", ["very_likely"], by="party")
    jackknife = proportion(clustered.with_replicates("jkn"), "civil_war_5yr", ["very_likely"], by="party")
    for a, b in zip(linear, jackknife):
        assert a.estimate == pytest.approx(b.estimate, rel=1e-12)
        assert 0.8 < a.se / b.se < 1.25


# Domains b (one respondent, p = 1), c (a level whose every answer is missing) and d (p = 1).
# R values: svyciprop / svymean / svytotal on subset(svydesign(ids = ~1, weights = ~w), g == level)
# with df = degf(whole design), survey 4.1-1.
_SMALL_DOMAINS = pd.DataFrame({
    "g": ["a"] * 5 + ["b"] + ["c"] * 3 + ["d"] * 3,
    "y": ["yes", "no", "yes", "no", "yes", "yes", None, None, None, "yes", "yes", "yes"],
    "x": [1.0, 2, 3, 4, 5, 7, np.nan, np.nan, np.nan, 2, 3, 4],
    "w": [10.0, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120],
})
# R: logit and mean give (p, p) (logit to 1e-8: its glm diverges); beta, xlogit, asin give NaN
_R_INTERVAL_AT_P1 = {"logit": (1, 1), "mean": (1, 1), "beta": (np.nan,) * 2, "xlogit": (np.nan,) * 2,
                     "asin": (np.nan,) * 2, "wilson": (np.nan,) * 2}


@pytest.mark.parametrize("ci", sorted(_R_INTERVAL_AT_P1))
@pytest.mark.parametrize("replicates", [None, "jk1"])
def test_tiny_and_empty_domains_give_r_values_not_errors(ci, replicates):
    design = SurveyDesign(_SMALL_DOMAINS, weights="w")
    if replicates:
        design = design.with_replicates(replicates)
    by_g = proportion(design, "y", "yes", by="g", ci=ci)
    one, empty, all_yes = by_g["b"], by_g["c"], by_g["d"]
    assert (one.n, one.estimate, one.deff) == (1, 1.0, None)
    assert empty.n == 0 and np.isnan([empty.estimate, empty.se, empty.ci_low, empty.ci_high, empty.effective_n]).all()
    assert all_yes.estimate == 1.0 and all_yes.se == 0 and all_yes.deff is None and np.isnan(all_yes.effective_n)
    assert_allclose([all_yes.ci_low, all_yes.ci_high], _R_INTERVAL_AT_P1[ci])
    if replicates is None:
        assert one.se == 0
        assert_allclose([one.ci_low, one.ci_high], _R_INTERVAL_AT_P1[ci])
    else:  # the replicate without the respondent has no estimate
        assert np.isnan([one.se, one.ci_low, one.ci_high]).all()


def test_means_and_totals_of_tiny_domains_match_r():
    design = SurveyDesign(_SMALL_DOMAINS, weights="w")
    means, totals = mean(design, "x", by="g"), total(design, "x", by="g")
    assert (means["b"].estimate, means["b"].se, means["b"].ci_low, means["b"].deff) == (7.0, 0.0, 7.0, None)
    assert_allclose([totals["b"].estimate, totals["b"].se], [420, 420])
    assert totals["b"].deff is None  # R: Inf
    assert np.isnan([means["c"].estimate, means["c"].se, means["c"].ci_high]).all()
    assert (totals["c"].estimate, totals["c"].se) == (0.0, 0.0)
    assert_allclose([means["d"].estimate, means["d"].se, means["d"].deff, means["d"].ci_low, means["d"].ci_high],
                    [3.060606, 0.4903347, 0.7319343, 1.981387, 4.139825], rtol=1e-6)
    assert_allclose([totals["d"].estimate, totals["d"].se, totals["d"].deff], [1010, 566.6087, 8.974815], rtol=1e-6)


def test_quantile_rule_is_r_qrule_math():
    x, w = np.array([3.0, 1.0, 2.0, 2.0]), np.ones(4)
    assert quantile_rule(x, w, 0.5) == 2.0  # the cumulative share reaches 0.5 exactly at 2
    assert quantile_rule(x, w, 0.51) == 2.0 and quantile_rule(x, w, 0.76) == 3.0
    assert quantile_rule(x, w, 0.1) == 2.0  # R's quirk: below the first weight, the second value
    assert quantile_rule(x, w, 0.99) == 3.0


def test_ratio_is_a_ratio_of_totals_over_rows_with_both(raked):
    data = raked.data.assign(num=raked.data["trust"], den=np.where(raked.data["sex"] == "male", np.nan, 2.0))
    design = rake(SurveyDesign(data, weights="base_weight", strata="stratum", cluster="psu"),
                  {"age_group": MARGINS["age_group"]})
    result = ratio(design, "num", "den")
    both = data["num"].notna() & data["den"].notna()
    w = design.weights[both.to_numpy()]
    assert_allclose(result.estimate, (w * data.loc[both, "num"]).sum() / (w * 2.0).sum())
    assert result.n == both.sum() and result.deff is None and result.ci_low < result.estimate < result.ci_high
