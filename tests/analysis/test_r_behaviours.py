"""Behaviours where the library once parted from R `survey` 4.1-1 (issue 13), one test each.

Numbers marked "R:" come from R survey 4.1-1 on the same data (the scripts are in the comments);
the reference cases b11-b14 check the same behaviours through ``python -m analysis run``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis import (
    CategoryWarning, ConvergenceWarning, SurveyDesign, calibrate, mean, proportion, rake, svyglm, test_difference, trim,
)
from analysis.__main__ import main
from analysis.design import replicate_rank
from analysis.spec import read_data

from .conftest import MARGINS, OWN_REFERENCE

AGE_SEX = {"age_group": MARGINS["age_group"], "sex": MARGINS["sex"]}


@pytest.fixture(scope="module")
def poll_d() -> pd.DataFrame:
    """poll_b plus income, housing costs, a TRUE/FALSE column and design weights with zeros."""
    return read_data(OWN_REFERENCE / "poll_d.csv")


def test_linear_calibration_recounts_replicate_degf(clustered):
    # R: degf(calibrate(as.svrepdesign(des, "JKn"), ~age_group + sex, pop)) = 188, as regcalibrate
    # recounts; raking (and bounded linear calibration) keep the design-weight count, 184
    jkn = clustered.with_replicates("jkn")
    linear = calibrate(jkn, AGE_SEX, population=3e7)
    assert jkn.degf == 184 and linear.degf == 188 == replicate_rank(linear.replicate_weights) - 1
    assert rake(jkn, AGE_SEX, population=3e7).degf == 184
    assert calibrate(jkn, AGE_SEX, population=3e7, bounds=(0.2, 5)).degf == 184
    assert proportion(linear, "calexit", "yes").df == 188


def test_true_false_columns_keep_r_spelling(poll_d):
    design = SurveyDesign(poll_d, weights="base_weight")
    assert poll_d["owns_home"].dropna().map(type).eq(bool).all()  # pandas reads them as bool
    owners = proportion(design, "owns_home", ["TRUE"])
    present = poll_d["owns_home"].notna()
    expected = poll_d.loc[present & poll_d["owns_home"].eq(True), "base_weight"].sum()
    assert_allclose(owners.estimate, expected / poll_d.loc[present, "base_weight"].sum())
    assert proportion(design, "owns_home", True).estimate == owners.estimate  # YAML's true is R's TRUE
    fit = svyglm(design, "trust", ["owns_home", "sex"])
    assert [c.term for c in fit.coefficients] == ["intercept", "owns_home=TRUE", "sex=male"]


def test_a_rake_that_cannot_converge_writes_no_result(tmp_path: Path, caplog):
    data = tmp_path / "data.csv"
    pd.DataFrame({"a": ["x"] * 10 + ["y"] * 10, "b": ["p"] * 10 + ["q"] * 10, "v": [1, 0] * 10}).to_csv(data, index=False)
    spec = {"data": "data.csv", "weighting": {"method": "rake", "margins": {"a": {"x": 0.5, "y": 0.5},
                                                                           "b": {"p": 0.3, "q": 0.7}}},
            "estimates": [{"id": "v", "variable": "v", "type": "mean"}]}
    (tmp_path / "spec.yaml").write_text(json.dumps(spec), encoding="utf-8")
    out = tmp_path / "out.json"
    assert main(["run", str(tmp_path / "spec.yaml"), "--out", str(out)]) == 1
    assert "weighting (rake): raking cannot meet every target" in caplog.text
    assert not out.exists()


def test_jk1_on_a_stratified_design_is_refused_naming_jkn(clustered):
    with pytest.raises(ValueError, match="jk1 ignores strata.*use jkn"):
        clustered.with_replicates("jk1")


def test_zero_design_weights_are_out_of_every_domain(poll):
    # a zero weight is a domain: the same estimate and se as the domain of the rows in scope
    scope = np.where(np.arange(len(poll)) % 17 == 0, 0.0, 1.0)
    frame = poll.assign(in_scope=scope, scoped=poll["base_weight"] * scope)
    zero = SurveyDesign(frame, weights="scoped", strata="stratum", cluster="psu")
    domain = proportion(SurveyDesign(frame, weights="base_weight", strata="stratum", cluster="psu"),
                        "calexit", "yes", by="in_scope")[1]
    result = proportion(zero, "calexit", "yes")
    assert_allclose([result.estimate, result.se], [domain.estimate, domain.se], rtol=1e-12)
    units = frame.loc[scope > 0].groupby(["stratum", "psu"]).ngroups
    assert zero.degf == units - frame.loc[scope > 0, "stratum"].nunique()
    trimmed = trim(zero, lower=0.9, upper=1.2).weights
    assert np.all(trimmed[scope == 0] == 0) and trimmed[scope > 0].min() >= 0.9
    with pytest.raises(ValueError, match="are all zero"):
        SurveyDesign(frame, weights=np.zeros(len(frame)))


def test_a_category_matching_no_answer_warns_with_the_answers(raked):
    with pytest.warns(CategoryWarning, match=r"`calexit`: no answer is `TRUE` \(YAML reads an unquoted yes.*"
                                             r"its answers are no, unsure, yes"):
        result = proportion(raked, "calexit", [True])
    assert result.estimate == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proportion(raked, "calexit", ["yes", "no"])  # every category matches: no warning


def test_svyglm_warns_when_a_replicate_fit_does_not_converge(poll):
    # `other` is all "no" but one row: the replicate that deletes that row's unit is separated
    frame = poll.assign(y=np.where(poll["party"] == "other", "no", poll["calexit"]))
    frame.loc[frame.index[frame["party"] == "other"][0], "y"] = "yes"
    design = SurveyDesign(frame, weights="base_weight", cluster="psu").with_replicates("jk1")
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 of .* replicates"):
        svyglm(design, "y", ["party"], family="binomial", categories=["yes"])


def test_difference_under_jkn_uses_the_subset_rank(poll):
    # R: svyttest(yes ~ rep_party, subset(calibrate(as.svrepdesign(des, "JKn"), ~sex + age_group, pop,
    #    calfun = "raking"), party %in% c("dem", "rep"))) on strata s1, s2 with clusters of three
    small = poll[poll["stratum"].isin(["s1", "s2"])].assign(psu3=lambda f: (f["psu"] - 1) // 3)
    design = SurveyDesign(small, weights="base_weight", strata="stratum", cluster="psu3").with_replicates("jkn")
    raked = rake(design, AGE_SEX)
    result = test_difference(raked, "calexit", "party", ("dem", "rep"), categories=["yes"])
    assert raked.degf == 31 and result.df == 31  # the whole design's degf - 1 would be 30
    assert_allclose([result.difference, result.statistic], [-0.208654763151098, -5.03265561881317], rtol=1e-6)
    assert_allclose(result.p_value, 1.95588671083142e-05, atol=1e-9)


def test_crossed_domains_are_the_domains_of_the_combined_levels(poll):
    frame = poll.assign(party_sex=poll["party"] + "|" + poll["sex"])
    design = SurveyDesign(frame, weights="base_weight", strata="stratum", cluster="psu").with_replicates("jkn")
    crossed, combined = mean(design, "trust", by=["party", "sex"]), mean(design, "trust", by="party_sex")
    assert crossed.domains == combined.domains and crossed.by == "party|sex"
    for a, b in zip(crossed, combined):
        assert (a.estimate, a.se, a.n) == (b.estimate, b.se, b.n)
    assert sum(e.n for e in crossed) == frame["trust"].notna().sum()


def test_a_numeric_code_nobody_chose_is_a_plain_zero(poll):
    design = SurveyDesign(poll.assign(option=0), weights="base_weight")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert proportion(design, "option", 1).estimate == 0
