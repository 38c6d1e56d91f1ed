"""This survey beside published polls: a design-based test against each published figure and
a Rao–Scott goodness-of-fit test of the whole answer distribution.

A published figure comes with its population, dates, sample size and wording
(``survey.weighting.reference_data.published_figures``), shown next to the test, because a difference
from a poll of likely U.S. voters asked in other words is not a change in opinion.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

from analysis import proportion
from analysis.inference import goodness_of_fit, test_against
from survey.weighting.reference_data import PublishedFigure, published_figures
from survey.weighting.runs import ComputedRun, weighted_design


@dataclass(frozen=True)
class FigureTest:
    answer: str
    label: str
    published: float
    estimate: float
    ci_low: float
    ci_high: float
    statistic: float
    df: float
    p_value: float


@dataclass(frozen=True)
class GoodnessOfFit:
    """Rao–Scott second-order test: ``statistic`` is the adjusted chi-square on ``df`` degrees."""

    statistic: float
    df: Optional[float]
    p_value: float


@dataclass(frozen=True)
class Comparison:
    figure: PublishedFigure
    tests: list[FigureTest]
    goodness_of_fit: Optional[GoodnessOfFit]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure.to_dict(),
            "tests": [asdict(test) for test in self.tests],
            "goodness_of_fit": asdict(self.goodness_of_fit) if self.goodness_of_fit else None,
            "note": self.note,
            "caveat": "Populations, dates and wordings differ between polls; a difference is not only a change in opinion.",
        }


def _number(value: Any) -> float:
    value = float(value)
    return value if math.isfinite(value) else math.nan


def comparisons_for(computed: ComputedRun) -> list[Comparison]:
    """Every published figure on a question of this run, tested against the run's estimates.

    Each share (and each published combination such as "very or somewhat likely") gets a
    design-based t test of H0: our population share equals the published one, treating the
    published figure as fixed; when the figure gives the whole distribution, the Rao–Scott
    goodness-of-fit test (R's ``svygofchisq``) tests all shares at once.
    """
    questions = {q.code: q for q in computed.data.questions if q.closed and not q.multiple}
    figures = [figure for figure in published_figures() if figure.testable and figure.question in questions]
    if not figures:
        return []
    design = weighted_design(computed)
    interval = next((e["ci"] for e in computed.spec["estimates"] if e["type"] == "proportion"), "logit")
    comparisons = []
    for figure in figures:
        question = questions[figure.question]
        codes = {o.code for o in question.options}
        tests = []
        parts = [(code, [code], question.option_label(code), share) for code, share in figure.shares.items() if code in codes]
        nets = {frozenset(net.answers): net for net in question.nets}
        for group in figure.groups:  # a published combination that is one of the question's nets takes its code
            if set(group.categories) <= codes:
                net = nets.get(frozenset(group.categories))
                answer = net.code if net else " + ".join(group.categories)
                parts.append((answer, list(group.categories), net.label.get("en", group.label) if net else group.label,
                              group.share))
        for answer, categories, label, share in parts:
            estimate = proportion(design, figure.question, categories, ci=interval)
            result = test_against(estimate, share)
            tests.append(FigureTest(answer, label, share, _number(estimate.estimate), _number(estimate.ci_low),
                                    _number(estimate.ci_high), _number(result.statistic), _number(result.df),
                                    _number(result.p_value)))
        fit, note = None, figure.caveat
        if figure.complete and set(figure.shares) == codes:
            try:  # goodness_of_fit scales shares rounded to whole points to sum to 1, as R does
                gof = goodness_of_fit(design, figure.question, dict(figure.shares))
                # X² on population totals divided by its Satterthwaite scale: a chi-square on ``df``
                fit = GoodnessOfFit(_number(gof.statistic / gof.scale), _number(gof.df), _number(gof.p_value))
            except ValueError as error:  # e.g. an answer nobody in this sample gave
                note = f"{note} The whole distribution was not tested: {error}."
        comparisons.append(Comparison(figure, tests, fit, note))
    return comparisons
