"""Estimates: results objects, interval choices, domains, totals, regression options."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.proportion import proportion_confint

from analysis import DomainEstimates, Estimate, SurveyDesign, mean, proportion, svyglm, total


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
