"""Linearized variances: the O(n) domain route equals the dense one, on every kind of design."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis import SurveyDesign, poststratify, rake, trim
from analysis._rank import _dqrdc2, qr_rank
from analysis.estimates import _columns, outcome_values
from analysis.variance import domain_covariance, linearized_covariance

from .conftest import MARGINS

CELLS = {"18-29|female": 0.104, "18-29|male": 0.106, "30-44|female": 0.134, "30-44|male": 0.136,
         "45-64|female": 0.162, "45-64|male": 0.158, "65+|female": 0.105, "65+|male": 0.095}


def _designs(poll):
    plain = SurveyDesign(poll, weights="base_weight")
    clustered = SurveyDesign(poll, weights="base_weight", strata="stratum", cluster="psu")
    lonely = poll.assign(stratum=np.where(poll["psu"].eq(1) & poll["stratum"].eq("s5"), "s6", poll["stratum"]))
    return {
        "unweighted": SurveyDesign(poll),
        "raked": rake(plain, MARGINS),
        "raked clustered": rake(clustered, MARGINS, population=3e7),
        "poststratified clustered": poststratify(clustered, ["age_group", "sex"], CELLS),
        "raked then trimmed": trim(rake(clustered, MARGINS), 0.4, 2.5),
        "lonely stratum": rake(SurveyDesign(lonely, weights="base_weight", strata="stratum", cluster="psu"), MARGINS),
    }


@pytest.mark.parametrize("name", ["unweighted", "raked", "raked clustered", "poststratified clustered",
                                  "raked then trimmed", "lonely stratum"])
def test_domain_route_equals_dense_route(poll, name):
    design = _designs(poll)[name]
    cols = _columns(design, outcome_values(design, "civil_war_5yr", ("very_likely",)), "party")
    rng = np.random.default_rng(3)
    z = rng.normal(size=design.n) * design.weights
    dense = np.zeros((design.n, cols.k))
    inside = cols.code >= 0
    dense[np.flatnonzero(inside), cols.code[inside]] = z[inside]
    expected = linearized_covariance(design, dense)
    got = domain_covariance(design, z, cols.slot, cols.k, dense_limit=0)
    assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
    # a second estimate on the same design reuses the sums that do not depend on it
    assert domain_covariance(design, 2 * z, cols.slot, cols.k, dense_limit=0).tobytes() == (4 * got).tobytes()
    # the rows in no domain may hold anything: their sums are left out
    outside = np.where(cols.slot == cols.k, np.nan, z)
    assert domain_covariance(design, outside, cols.slot, cols.k, dense_limit=0).tobytes() == got.tobytes()


def test_lonely_unit_policies(poll):
    lonely = poll.assign(stratum=np.where(poll["psu"].eq(1) & poll["stratum"].eq("s5"), "s6", poll["stratum"]))
    z = np.ones(len(poll))
    adjust, certainty = (SurveyDesign(lonely, strata="stratum", cluster="psu", lonely_psu=p) for p in ("adjust", "certainty"))
    unit_total = (lonely["stratum"] == "s6").sum()
    # "adjust" (R survey 4.1): the lonely unit's total counts from zero; "certainty": no variance
    assert_allclose(linearized_covariance(adjust, z) - linearized_covariance(certainty, z), [[unit_total**2]])
    fail = SurveyDesign(lonely, strata="stratum", cluster="psu", lonely_psu="fail")
    with pytest.raises(ValueError, match="stratum `s6` has a single first-stage unit"):
        linearized_covariance(fail, z)
    with pytest.raises(ValueError, match="lonely_psu='drop' is not one of"):
        SurveyDesign(lonely, strata="stratum", cluster="psu", lonely_psu="drop")


def test_clusters_nest_in_strata(poll):
    # psu 1 exists in every stratum: nest = TRUE makes them five units, not one
    design = SurveyDesign(poll, strata="stratum", cluster="psu")
    assert design.n_units == poll.groupby(["stratum", "psu"]).ngroups
    assert design.degf == design.n_units - 5
    assert pd.Series(design.psu_codes).groupby(design.strata_codes).nunique().sum() == design.n_units


@pytest.mark.parametrize(
    ("matrix", "rank"),
    [  # qr(x, tol = 1e-5)$rank in R 4.x
        ([[1, 2], [2, 4]], 1),
        (np.ones((4, 3)), 1),
        ([[1, 2, 1], [2, 4, 0], [3, 6, 0]], 2),
        (np.zeros((3, 2)), 0),
        ([[0, 1], [0, 2]], 1),
        (np.eye(5), 5),
    ],
)
def test_rank_is_the_one_r_reports(matrix, rank):
    assert qr_rank(np.asarray(matrix, dtype=float)) == rank


def test_rank_agrees_with_the_step_by_step_algorithm():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 40))
    x[:, 7] = x[:, 2] + 1e-9 * rng.normal(size=30)  # nearly dependent: dqrdc2 moves it
    x[:, 12] = 2 * x[:, 1]
    assert qr_rank(x) == _dqrdc2(x, np.linalg.norm(x, axis=0), 1e-5, 30) == 30
    assert qr_rank(x[:, :20]) == _dqrdc2(x[:, :20], np.linalg.norm(x[:, :20], axis=0), 1e-5, 30) == 18


def test_jkn_with_a_lonely_stratum(poll):
    lonely = poll.assign(stratum=np.where(poll["psu"].eq(1) & poll["stratum"].eq("s5"), "s6", poll["stratum"]))
    make = lambda policy: SurveyDesign(lonely, strata="stratum", cluster="psu", lonely_psu=policy)  # noqa: E731
    adjust = make("adjust").with_replicates("jkn")
    certainty = make("certainty").with_replicates("jkn")
    assert adjust.replicates.replicates == adjust.n_units == certainty.replicates.replicates + 1
    # "adjust" (R's jknweights): the lonely stratum's replicate drops it and scales the others by H/(H-1)
    column = adjust.replicates.factors[:, adjust.unit_stratum == 5][:, 0]
    assert_allclose(column, np.where(adjust.unit_stratum == 5, 0.0, 6 / 5))
    with pytest.raises(ValueError, match="jkn: stratum `s6` has a single unit"):
        make("fail").with_replicates("jkn")
