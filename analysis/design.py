"""The survey design: data, design weights, strata, first-stage clusters, replicate weights.

A design never changes after it is made. Weighting (``analysis.weighting``) returns a new
design that carries the step that made it, because the variance of every estimate depends on
how the weights were made: calibration residuals under linearization, re-weighting of each
replicate under replicate weights.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Literal, Optional, Sequence, Union

import numpy as np
import pandas as pd

from analysis._checks import check_choice, column
from analysis._rank import qr_rank
from analysis._text import text_codes
from analysis.diagnostics import WeightingDiagnostics, weighting_diagnostics

if TYPE_CHECKING:
    import scipy.sparse as sp

    from analysis.weighting import WeightingStep

logger = logging.getLogger(__name__)

LonelyPSU = Literal["adjust", "certainty", "fail"]
ReplicateMethod = Literal["jk1", "jkn", "bootstrap"]
LONELY_PSU_CHOICES = ("adjust", "certainty", "fail")
REPLICATE_METHODS = ("jk1", "jkn", "bootstrap")
CELL_SEPARATOR = "|"  # joins the levels of a weighting cell or of a crossed domain


@dataclass(frozen=True, eq=False)
class ReplicateScheme:
    """How replicate weights were made from the design weights.

    ``factors[u, r]`` multiplies the design weight of every row of first-stage unit ``u`` in
    replicate ``r``. The variance of an estimate is ``scale * sum(rscales * (theta_r -
    mean(theta_r))**2)``, as R's ``svrVar`` with ``mse = FALSE``.
    """

    method: str
    factors: np.ndarray
    scale: float
    rscales: np.ndarray
    degf: int
    seed: Optional[int] = None

    @property
    def replicates(self) -> int:
        return self.factors.shape[1]


class SurveyDesign:
    """A sample with its design: weights, optional strata and first-stage clusters.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    weights : str, array-like or None
        Design (base) weights: a column name, an array in row order, or None for all 1.
        Zero marks a row out of scope: it stays in the design (its unit and stratum) but
        is out of every domain and every weighting total, as in R.
    strata : str or None
        Column holding the stratum of each row.
    cluster : str or None
        Column holding the first-stage sampling unit (PSU); units are nested in strata
        and treated as drawn with replacement. None: every row is its own unit.
    lonely_psu : {"adjust", "certainty", "fail"}
        A stratum with a single unit: "adjust" measures its total from zero (R's
        ``options(survey.lonely.psu = "adjust")`` in survey 4.1), "certainty" gives it no
        variance, "fail" raises.

    Notes
    -----
    Matches R's ``svydesign(ids = ~cluster, strata = ~strata, weights = ~w, nest = TRUE)``.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        weights: Union[None, str, Sequence[float], np.ndarray, pd.Series] = None,
        strata: Optional[str] = None,
        cluster: Optional[str] = None,
        *,
        lonely_psu: LonelyPSU = "adjust",
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise ValueError("data must be a pandas DataFrame")
        if len(data) == 0:
            raise ValueError("the data has no rows")
        self.lonely_psu = check_choice("lonely_psu", lonely_psu, LONELY_PSU_CHOICES)
        self.data = data
        self.weights_column = weights if isinstance(weights, str) else None
        self.strata_column = strata
        self.cluster_column = cluster
        self.design_weights = _design_weights(data, weights)
        self.weights = self.design_weights
        self.strata_codes, self.psu_codes = _strata_and_units(data, strata, cluster)
        self.strata_levels = (
            tuple(str(v) for v in pd.factorize(data[strata], sort=True)[1]) if strata else ("all",)
        )
        self.steps: tuple[WeightingStep, ...] = ()
        self.replicates: Optional[ReplicateScheme] = None
        self.replicate_weights: Optional[np.ndarray] = None
        self._domains: dict = {}
        self._answer_codes: dict = {}
        self.unconverged_replicates = 0  # replicates whose weighting step did not converge

    # --- sizes and degrees of freedom -------------------------------------------------
    @property
    def n(self) -> int:
        """Number of rows (respondents)."""
        return len(self.weights)

    @property
    def population_size(self) -> float:
        """Sum of the final weights."""
        return float(self.weights.sum())

    @property
    def n_units(self) -> int:
        """Number of first-stage units."""
        return int(self.psu_codes.max()) + 1

    @property
    def n_strata(self) -> int:
        return int(self.strata_codes.max()) + 1

    @property
    def variance_method(self) -> str:
        return "linearization" if self.replicates is None else self.replicates.method

    @property
    def degf(self) -> int:
        """Design degrees of freedom, as R's ``degf()``.

        Linearization: first-stage units minus strata, counting those with a row of non-zero
        weight. Replicate designs: the rank of the replicate-weight matrix minus one, counted
        when the replicates are made and again after post-stratification or linear calibration
        without bounds (see :meth:`with_weighting`).
        """
        if self.replicates is not None:
            return self.replicates.degf
        return self._linearization_degf

    @cached_property
    def _linearization_degf(self) -> int:
        return self.domain_degf(self.design_weights != 0)

    def domain_degf(self, rows: np.ndarray) -> int:
        """Units with at least one of ``rows`` (a boolean mask) minus their strata.

        Counted with ``bincount`` over the dense unit and stratum codes: ``np.unique`` hashes
        or sorts a million codes, a third of a whole rake command's CPU."""
        units = np.flatnonzero(np.bincount(self.psu_codes[rows], minlength=self.n_units))
        return len(units) - np.count_nonzero(np.bincount(self.unit_stratum[units], minlength=self.n_strata))

    # --- structure used by the variance code (cached: a design never changes) -----------
    @cached_property
    def unit_stratum(self) -> np.ndarray:
        """Stratum code of each first-stage unit."""
        out = np.empty(self.n_units, dtype=np.int64)
        out[self.psu_codes] = self.strata_codes
        return out

    @cached_property
    def units_per_stratum(self) -> np.ndarray:
        return np.bincount(self.unit_stratum, minlength=self.n_strata)

    @cached_property
    def unit_matrix(self) -> Optional[sp.csr_matrix]:
        """Sparse (units x rows) indicator that sums rows into unit totals; None if rows are units."""
        if self.cluster_column is None:
            return None
        import scipy.sparse as sp  # on first use: plain designs never need it

        n = self.n
        return sp.csr_matrix((np.ones(n), (self.psu_codes, np.arange(n))), shape=(self.n_units, n))

    def domains(self, by: tuple[str, ...], compute: Callable) -> tuple[tuple, np.ndarray]:
        """``compute(data, by)``, the domains of ``by`` and each row's domain, memoized.

        The data never change, so a results page that asks for the same domains for every
        question computes them once; weighted copies of the design share the memo.
        """
        if by not in self._domains:
            self._domains[by] = compute(self.data, by)
        return self._domains[by]

    def answer_codes(self, variable: str) -> tuple[np.ndarray, np.ndarray, list]:
        """:func:`text_codes` of the data column ``variable``, memoized as :meth:`domains`: a
        banner estimates every answer of a question in every banner variable, one hash pass."""
        if variable not in self._answer_codes:
            self._answer_codes[variable] = text_codes(column(self.data, variable, "variable"))
        return self._answer_codes[variable]

    @cached_property
    def stratum_matrix(self) -> Optional[sp.csr_matrix]:
        """Sparse (strata x units) indicator; None for an unstratified design."""
        if self.strata_column is None:
            return None
        import scipy.sparse as sp

        units = self.n_units
        return sp.csr_matrix((np.ones(units), (self.unit_stratum, np.arange(units))), shape=(self.n_strata, units))

    # --- weighting and replicates ----------------------------------------------------
    @property
    def diagnostics(self) -> WeightingDiagnostics:
        """Weighting diagnostics of this design (see :func:`analysis.weighting_diagnostics`)."""
        return weighting_diagnostics(self)

    def with_weighting(self, step: "WeightingStep", weights: np.ndarray) -> "SurveyDesign":
        """A new design with ``step`` appended, its ``weights``, and the step applied to every replicate.

        After a step that R recounts after (``postStratify``; ``regcalibrate``, linear
        calibration without bounds) the replicate degrees of freedom become the rank of the
        new replicate weights minus one; other steps keep the design's.
        """
        new = copy.copy(self)
        new.steps = self.steps + (step,)
        new.weights = weights
        if self.replicate_weights is not None:
            new.replicate_weights, failed = step.reweight(self.replicate_weights)
            new.unconverged_replicates = self.unconverged_replicates + failed
            if step.recounts_degf:
                new.replicates = dataclasses.replace(self.replicates, degf=replicate_rank(new.replicate_weights) - 1)
        return new

    def with_replicates(
        self, method: ReplicateMethod, replicates: Optional[int] = None, seed: Optional[int] = None
    ) -> "SurveyDesign":
        """A replicate-weight version of this design.

        Parameters
        ----------
        method : {"jk1", "jkn", "bootstrap"}
            "jk1": delete one first-stage unit at a time, others scaled by R/(R-1) (R's
            ``as.svrepdesign(type = "JK1")``). "jkn": delete one unit within its stratum,
            the stratum's others scaled by n_h/(n_h-1) (``type = "JKn"``). "bootstrap":
            Rao-Wu rescaling bootstrap, n_h - 1 units drawn with replacement in each stratum
            (``type = "bootstrap"``), seeded.
        replicates : int, optional
            Number of bootstrap replicates (default 200); jackknives have one per unit.
        seed : int, optional
            Seed of the bootstrap draws (``numpy.random.default_rng``).

        Notes
        -----
        Replicates are made from the design weights; the design's weighting steps, if any,
        are applied again to every replicate.
        """
        check_choice("method", method, REPLICATE_METHODS)
        if method != "bootstrap" and replicates is not None:
            raise ValueError(f"replicates={replicates!r} only applies to the bootstrap; {method} has one per unit")
        scheme = _replicate_scheme(self, method, replicates, seed)
        new = copy.copy(self)
        new.replicates = scheme
        new.replicate_weights = self.design_weights[:, None] * scheme.factors[self.psu_codes]
        new.steps, new.unconverged_replicates = (), 0
        for step in self.steps:
            new = new.with_weighting(step, step.output_weights)
        return new

    def replicate_weights_frame(self) -> pd.DataFrame:
        """Final replicate weights, one column per replicate (``replicate_1`` ...), rows as the data."""
        if self.replicate_weights is None:
            raise ValueError("this design has no replicate weights; call with_replicates() first")
        names = [f"replicate_{r + 1}" for r in range(self.replicate_weights.shape[1])]
        return pd.DataFrame(self.replicate_weights, index=self.data.index, columns=names)

    def __repr__(self) -> str:
        steps = " -> ".join(s.method for s in self.steps) or "unweighted"
        return (
            f"SurveyDesign(n={self.n}, units={self.n_units}, strata={self.n_strata}, "
            f"variance={self.variance_method}, weighting={steps})"
        )


def replicate_rank(weights: np.ndarray) -> int:
    """Rank of a replicate-weight matrix as R's ``degf()`` counts it: ``qr(weights, tol = 1e-5)``."""
    return qr_rank(weights, tol=1e-5)


def _jkn_scheme(design: SurveyDesign) -> ReplicateScheme:
    """JKn replicates as R's ``jknweights``: one per unit, deleting it within its stratum.

    A stratum with a single unit follows ``design.lonely_psu`` as R does: "adjust" deletes the
    whole stratum and scales every other unit by H/(H−1) (H strata), rscale (H−1)/H;
    "certainty" gives it no replicate; "fail" raises.
    """
    n_units, stratum = design.n_units, design.unit_stratum
    per_stratum = design.units_per_stratum[stratum].astype(float)
    lonely = per_stratum < 2
    if lonely.any() and design.lonely_psu == "fail":
        level = design.strata_levels[stratum[np.flatnonzero(lonely)[0]]]
        raise ValueError(f"jkn: stratum `{level}` has a single unit; use lonely_psu='adjust' or 'certainty'")
    same = stratum[:, None] == stratum[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(same, (per_stratum / (per_stratum - 1))[None, :], 1.0)
        rscales = (per_stratum - 1) / per_stratum
    np.fill_diagonal(factors, 0.0)
    if not lonely.any():
        return ReplicateScheme("jkn", factors, 1.0, rscales, n_units - design.n_strata)
    h = design.n_strata
    factors[:, lonely] = np.where(same[:, lonely], 0.0, h / (h - 1))
    rscales[lonely] = (h - 1) / h
    keep = ~lonely if design.lonely_psu == "certainty" else np.ones(n_units, dtype=bool)
    factors, rscales = factors[:, keep], rscales[keep]
    return ReplicateScheme("jkn", factors, 1.0, rscales, qr_rank(factors, tol=1e-5) - 1)


def _design_weights(data: pd.DataFrame, weights) -> np.ndarray:
    if weights is None:
        return np.ones(len(data))
    if isinstance(weights, str):
        values = pd.to_numeric(column(data, weights, "weights column"), errors="coerce").to_numpy(float)
        name = f"design weights `{weights}`"
    else:
        values = np.asarray(weights, dtype=float)
        name = "design weights"
        if values.shape != (len(data),):
            raise ValueError(f"{name} have {values.size} values for {len(data)} rows")
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        rows = ", ".join(str(r) for r in data.index[bad][:5])
        raise ValueError(f"{name} must be numbers of at least 0; {int(bad.sum())} are not (rows {rows})")
    if not values.any():
        raise ValueError(f"{name} are all zero: no row is in scope")
    return values


def _codes(data: pd.DataFrame, name: str, role: str) -> np.ndarray:
    values = column(data, name, role)
    if values.isna().any():
        raise ValueError(f"{role} `{name}` has {int(values.isna().sum())} missing values")
    return pd.factorize(values, sort=True)[0].astype(np.int64)


def _strata_and_units(data: pd.DataFrame, strata, cluster) -> tuple[np.ndarray, np.ndarray]:
    n = len(data)
    strata_codes = _codes(data, strata, "strata column") if strata else np.zeros(n, dtype=np.int64)
    if cluster is None:
        return strata_codes, np.arange(n, dtype=np.int64)
    cluster_codes = _codes(data, cluster, "cluster column")
    # nest = TRUE: the same cluster label in two strata is two units. Units are numbered as R
    # orders replicates: strata in order of appearance, units in order of appearance within.
    key = strata_codes * (int(cluster_codes.max()) + 1) + cluster_codes
    first_seen = pd.Series(np.arange(n)).groupby(strata_codes).transform("min").to_numpy()
    order = np.lexsort((np.arange(n), first_seen))
    units_in_order = pd.factorize(key[order])[0]
    units = np.empty(n, dtype=np.int64)
    units[order] = units_in_order
    return strata_codes, units


MAX_JACKKNIFE_UNITS = 20_000


def _replicate_scheme(design: SurveyDesign, method: str, replicates, seed) -> ReplicateScheme:
    n_units, stratum = design.n_units, design.unit_stratum
    if method != "bootstrap" and n_units > MAX_JACKKNIFE_UNITS:
        raise ValueError(
            f"{method} would make one replicate per first-stage unit ({n_units:,}), a {n_units:,} x {n_units:,} "
            "matrix; give the design clusters or use method='bootstrap'"
        )
    if method == "jk1":
        if design.strata_column is not None:
            raise ValueError(
                "jk1 ignores strata, and this design has strata "
                f"(`{design.strata_column}`); use jkn, the stratified jackknife"
            )
        if n_units < 2:
            raise ValueError("jk1 needs at least two first-stage units")
        factors = np.full((n_units, n_units), n_units / (n_units - 1))
        np.fill_diagonal(factors, 0.0)
        return ReplicateScheme("jk1", factors, (n_units - 1) / n_units, np.ones(n_units), n_units - 1)
    if method == "jkn":
        return _jkn_scheme(design)
    replicates = 200 if replicates is None else int(replicates)
    if replicates < 2:
        raise ValueError(f"replicates={replicates} must be at least 2")
    rng = np.random.default_rng(seed)
    factors = np.zeros((n_units, replicates))
    for h in range(design.n_strata):
        units = np.flatnonzero(stratum == h)
        n_h = len(units)
        if n_h < 2:
            raise ValueError(f"the bootstrap needs two or more units in every stratum; stratum `{design.strata_levels[h]}` has one")
        draws = rng.integers(0, n_h, size=(n_h - 1, replicates))
        counts = np.zeros((n_h, replicates))
        np.add.at(counts, (draws, np.arange(replicates)[None, :]), 1.0)
        factors[units] = counts * n_h / (n_h - 1)
    # Rao & Wu (1988) with n_h - 1 draws: the rescaling makes the bootstrap variance unbiased
    # for the with-replacement variance, so the scale is the plain 1 / (R - 1)
    scale = 1.0 / (replicates - 1)
    rank = qr_rank(factors, tol=1e-5)
    return ReplicateScheme("bootstrap", factors, scale, np.ones(replicates), int(rank) - 1, seed)
