"""Toplines and crosstabs: the analysis result of a run, laid out for people.

Every number comes from the run's ``analysis`` result (``ComputedRun.result``: each row's
``Estimate`` with its unweighted n, design effect and effective n, and the design's degrees of
freedom); this module only adds what a reader needs beside it: labels, the margin of error
(t · SE with the design's degrees of freedom, so it includes the design effect) and each
question's base. Nets are rows like answers, marked ``net``.
A weighting variable's whole-sample shares are the targets themselves (raking fixes them),
so they are shown "weighted to target", without the zero-width interval the formulae give.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import pandas as pd
from scipy import stats

from survey.questionnaires.model import OPTION_SEPARATOR, Question
from survey.responses.dataset import crossable
from survey.weighting.runs import ComputedRun
from survey.weighting.settings import INTERVAL_METHODS


@dataclass(frozen=True)
class TableRow:
    """One estimate: a share of an answer (or a mean), overall or within one domain."""

    estimate_id: str
    question: str
    answer: str
    answer_label: str
    domain_variable: Optional[str]
    domain: Optional[str]
    domain_label: Optional[str]
    estimate: Optional[float]  # None where the analysis could not compute it (e.g. one respondent)
    se: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]
    margin_of_error: Optional[float]
    deff: Optional[float]
    unweighted_n: int
    effective_n: Optional[float]
    kind: str  # "proportion" or "mean"
    net: bool = False  # the share of several answers together (a questionnaire's or the pollster's net)
    weighted_to_target: bool = False  # the weighting fixed this share: no interval or effective n

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Base:
    """Who a question's table is about: who was asked, how many answered, their weighted number."""

    asked: str
    unweighted_n: int
    weighted_n: float


@dataclass(frozen=True)
class QuestionTable:
    question: Question
    rows: list[TableRow]
    base: Base

    @property
    def domains(self) -> list[Optional[str]]:
        seen: list[Optional[str]] = []
        for row in self.rows:
            if row.domain not in seen:
                seen.append(row.domain)
        return seen

    def rows_in(self, domain: Optional[str]) -> list[TableRow]:
        return [row for row in self.rows if row.domain == domain]


def view_problem(interval: str, by: Optional[str], questions: list[Question]) -> Optional[str]:
    """Why the tables cannot be shown with this interval method and crosstab variable (None when they can)."""
    if interval not in INTERVAL_METHODS:
        return f"ci must be one of {', '.join(INTERVAL_METHODS)}"
    if by is not None and by not in dict(crossable(questions)):
        return f"cannot cross by {by!r}; choose a single-choice question of this survey"
    return None


def finite_or_none(value: Any) -> Optional[float]:
    """A number to show or send as JSON: NaN and infinities (nothing to estimate) become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def targeted_variables(computed: ComputedRun) -> set[str]:
    """Weighting variables whose whole-sample shares the weights reproduce exactly (not after trimming)."""
    settings = computed.settings
    if settings.trim:
        return set()
    return {settings.poststratify_by} if settings.method == "poststratify" else set(settings.targets.margins)


def question_base(computed: ComputedRun, question: Question, language: str = "en") -> Base:
    """The base of ``question``: the respondents with an answer (any option, for multiple choice)."""
    answered = computed.frame[list(question.columns)].notna().any(axis=1).to_numpy()
    weights = computed.result.weights
    return Base(question.base_text(language), int(answered.sum()), float(weights[answered].sum()))


def _answer_of(spec: dict, question: Question) -> str:
    """The row's answer: an option or net code (from the estimate id), or "mean"."""
    if OPTION_SEPARATOR in spec["variable"]:
        return spec["variable"].split(OPTION_SEPARATOR, 1)[1]
    return spec["id"].split("=", 1)[1] if spec["type"] == "proportion" else "mean"


def tables(computed: ComputedRun, language: str = "en") -> list[QuestionTable]:
    """One table per closed or numeric question of the run, rows in questionnaire order."""
    result = computed.result
    frame = computed.frame
    targeted = targeted_variables(computed)
    degf = result.degf
    level = 0.95
    t_value = float(stats.t.ppf(1 - (1 - level) / 2, degf)) if degf and degf > 0 else math.nan
    specs = {spec["id"]: spec for spec in computed.spec["estimates"]}
    by_question = {q.code: q for q in computed.data.questions}
    output = []
    for question in computed.data.questions:
        rows = []
        for estimate_id, spec in specs.items():
            if spec["variable"] != question.code and not spec["variable"].startswith(question.code + OPTION_SEPARATOR):
                continue
            if spec["variable"] not in frame.columns:
                continue
            answer = _answer_of(spec, question)
            domain_variable = spec.get("by")
            domain_question = by_question.get(domain_variable) if domain_variable else None
            for item in result.estimates.get(estimate_id, ()):
                domain = item.domain
                estimate, se = finite_or_none(item.estimate), finite_or_none(item.se)
                deff = finite_or_none(item.deff)
                fixed = domain_variable is None and question.weighting_variable in targeted
                if fixed:
                    se = deff = None
                if estimate is None or se is None:
                    effective_n = None
                elif item.statistic == "proportion":
                    effective_n = finite_or_none(item.effective_n)
                else:  # Kish's n / deff, as published: analysis's effective_n of a mean (s² / variance)
                    effective_n = item.n / deff if deff else None  # lacks deff's n/(n-1) and (N-n)/N factors
                rows.append(
                    TableRow(
                        estimate_id=estimate_id,
                        question=question.code,
                        answer=answer,
                        answer_label=question.option_label(answer, language) if answer != "mean" else "Mean",
                        domain_variable=domain_variable,
                        domain=None if domain is None else str(domain),
                        domain_label=(
                            domain_question.option_label(str(domain), language)
                            if domain_question and domain is not None else domain
                        ),
                        estimate=estimate,
                        se=se,
                        ci_low=None if fixed else finite_or_none(item.ci_low),
                        ci_high=None if fixed else finite_or_none(item.ci_high),
                        margin_of_error=t_value * se if se is not None else None,
                        deff=deff,
                        unweighted_n=item.n,
                        effective_n=effective_n,
                        kind=spec["type"],
                        net=question.net(answer) is not None,
                        weighted_to_target=fixed,
                    )
                )
        if rows:  # a crosstab reads group by group: every answer within one domain, then the next
            rows.sort(key=lambda row: _domain_order(order_of(by_question, row.domain_variable), row.domain))
            output.append(QuestionTable(question, rows, question_base(computed, question, language)))
    return output


def order_of(questions: dict[str, Question], code: Optional[str]) -> list[str]:
    question = questions.get(code) if code else None
    return [o.code for o in question.options] if question else []


def _domain_order(order: list[str], domain: Any) -> tuple:
    """Domains in the order of the crossing question's options; others after, sorted."""
    if domain is None:
        return (0, 0, "")
    text = str(domain)
    return (1, order.index(text), "") if text in order else (2, 0, text)


def tables_frame(question_tables: list[QuestionTable]) -> pd.DataFrame:
    """Every row of every table as one long frame (the CSV/XLSX download and the API)."""
    records = []
    for table in question_tables:
        for row in table.rows:
            record = row.to_dict()
            record["question_text"] = table.question.label()
            record["base"] = table.base.asked
            record["base_n"] = table.base.unweighted_n
            record["base_weighted_n"] = table.base.weighted_n
            records.append(record)
    columns = ["question", "question_text", "base", "base_n", "base_weighted_n", "answer", "answer_label", "net",
               "domain_variable", "domain", "domain_label", "kind", "weighted_to_target", "estimate", "se", "ci_low", "ci_high", "margin_of_error", "deff", "unweighted_n",
               "effective_n", "estimate_id"]
    return pd.DataFrame.from_records(records, columns=columns)
