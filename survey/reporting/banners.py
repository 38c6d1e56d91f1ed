"""Banner tables: answers and nets of some questions (rows) by the levels of banner variables
(columns), with Total, bases, significance letters and Rao–Scott tests of independence.

This is the table WinCross, Q/Displayr and SPSS Custom Tables deliver. Every number comes from
``analysis`` on the run's weighted design, through one spec like the toplines' (so the
downloaded spec reruns it with ``python -m analysis run``):

- a cell is the weighted share of the row's answer (or net) among the column's respondents who
  answered, a domain estimate inside the whole design (R: ``svyby`` on the raked design);
- a cell's letters are those of the columns of the same banner variable it is significantly
  higher than: the design-based pairwise difference with the full covariance of the domain
  estimates (``tests: type: pairwise``, R: ``svyby(covmat = TRUE)`` + ``svycontrast``);
- each question and banner variable get the Rao–Scott second-order test of independence
  (``tests: type: independence``, R: ``svychisq(statistic = "F")``).

Columns (and cells) with an unweighted base under ``min_base`` are flagged and get no letters.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, replace
from typing import Any, Optional

import numpy as np

from analysis.estimates import Estimate
from analysis.inference import PairDifference, PairwiseTests
from survey.questionnaires.model import OPTION_SEPARATOR, Net, Question
from survey.responses.dataset import crossable
from survey.reporting.tables import finite_or_none, question_base
from survey.weighting.cache import run_analysis
from survey.weighting.runs import ComputedRun, compute
from survey.weighting.settings import INTERVAL_METHODS
from survey.weighting.spec import build_spec

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_BASE = 30
TOTAL = "total"


class BannerError(ValueError):
    """A banner that cannot be made as asked; the message says which choice to change."""


@dataclass(frozen=True)
class BannerColumn:
    """One level of a banner variable, with its letter and bases (everyone in the column)."""

    variable: str
    variable_label: str
    level: str
    label: str
    letter: str
    n: int
    weighted_n: float
    low_base: bool


@dataclass(frozen=True)
class Cell:
    """A weighted share in one column (``variable`` "total" for the whole sample)."""

    variable: str
    level: Optional[str]
    estimate: Optional[float]
    se: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]
    n: int  # unweighted, answering the row's question in this column
    weighted_n: float  # their weighted number (the column's weighted base for this question)
    higher_than: tuple[str, ...] = ()
    low_base: bool = False


@dataclass(frozen=True)
class BannerRow:
    question: str
    question_label: str
    answer: str
    answer_label: str
    net: bool
    total: Cell
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class IndependenceTest:
    """Rao–Scott second-order test that a question's answers do not depend on a banner variable."""

    question: str
    variable: str
    statistic: Optional[float]
    ndf: Optional[float]
    ddf: Optional[float]
    p_value: Optional[float]


@dataclass(frozen=True)
class BannerQuestion:
    """A row question with its base line (who was asked, unweighted and weighted n)."""

    code: str
    label: str
    asked: str
    n: int
    weighted_n: float


@dataclass(frozen=True)
class Banner:
    run_id: int
    alpha: float
    min_base: int
    interval: str
    degf: int
    total_n: int
    total_weighted_n: float
    questions: tuple[BannerQuestion, ...]
    variables: tuple[tuple[str, str], ...]  # (code, label) of each banner variable, in order
    columns: tuple[BannerColumn, ...]
    rows: tuple[BannerRow, ...]
    independence: tuple[IndependenceTest, ...]
    spec: dict[str, Any]

    def columns_of(self, variable: str) -> list[BannerColumn]:
        return [column for column in self.columns if column.variable == variable]

    def rows_of(self, question: str) -> list[BannerRow]:
        return [row for row in self.rows if row.question == question]

    def independence_of(self, question: str, variable: str) -> Optional[IndependenceTest]:
        return next((t for t in self.independence if t.question == question and t.variable == variable), None)

    def to_json(self) -> dict[str, Any]:
        """The API's banner contract (scripts depend on these names; add, never rename)."""
        return {
            "run": self.run_id,
            "alpha": self.alpha,
            "min_base": self.min_base,
            "interval": self.interval,
            "degf": self.degf,
            "total": {"n": self.total_n, "weighted_n": self.total_weighted_n},
            "columns": [
                {"variable": c.variable, "level": c.level, "label": c.label, "letter": c.letter, "n": c.n,
                 "weighted_n": c.weighted_n, "low_base": c.low_base}
                for c in self.columns
            ],
            "rows": [
                {"question": r.question, "question_text": r.question_label, "answer": r.answer,
                 "answer_label": r.answer_label, "net": r.net, "total": _cell_json(r.total, total=True),
                 "cells": [_cell_json(cell) for cell in r.cells]}
                for r in self.rows
            ],
            "independence": [
                {"question": t.question, "variable": t.variable, "statistic": t.statistic, "ndf": t.ndf,
                 "ddf": t.ddf, "p_value": t.p_value}
                for t in self.independence
            ],
            "bases": [{"question": q.code, "asked": q.asked, "n": q.n, "weighted_n": q.weighted_n} for q in self.questions],
        }


def _cell_json(cell: Cell, total: bool = False) -> dict[str, Any]:
    body = {"estimate": cell.estimate, "se": cell.se, "ci_low": cell.ci_low, "ci_high": cell.ci_high, "n": cell.n,
            "weighted_n": cell.weighted_n}
    if total:
        return body
    return {"variable": cell.variable, "level": cell.level, **body, "higher_than": list(cell.higher_than),
            "low_base": cell.low_base}


# --------------------------------------------------------------------------- choices


def banner_rows(questions: Sequence[Question]) -> list[Question]:
    """Questions a banner can show as rows: closed questions that measure opinion or behaviour
    (screeners, attention checks and numeric questions are left out)."""
    return [q for q in questions if q.closed and not q.screener and not q.attention_check]


def default_rows(questions: Sequence[Question]) -> list[str]:
    """Every opinion question: closed, and not a weighting variable (those are the columns)."""
    return [q.code for q in banner_rows(questions) if not q.weighting_variable]


def default_columns(questions: Sequence[Question]) -> list[str]:
    """The demographics the survey is weighted by, the usual banner of a published poll."""
    weighting = {q.code for q in questions if q.weighting_variable}
    return [code for code, _ in crossable(questions) if code in weighting]


def _choose(asked: Optional[Sequence[str]], allowed: Sequence[str], default: list[str], what: str) -> list[str]:
    if not asked:
        return default
    unknown = [code for code in asked if code not in allowed]
    if unknown:
        raise BannerError(f"{', '.join(map(repr, unknown))} cannot be a banner {what}; choose among {', '.join(allowed)}")
    return list(dict.fromkeys(asked))


def _letters(count: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ...: one letter per column, continuing across banner variables."""
    letters = []
    for index in range(count):
        text, number = "", index + 1
        while number:
            number, remainder = divmod(number - 1, 26)
            text = chr(ord("A") + remainder) + text
        letters.append(text)
    return letters


@dataclass(frozen=True)
class BannerOptions:
    """What a banner request asks for (the page's form, the API's query, the files' links)."""

    rows: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    alpha: float = DEFAULT_ALPHA
    min_base: int = DEFAULT_MIN_BASE
    interval: str = "logit"

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> "BannerOptions":
        """``rows`` and ``columns`` as comma-separated codes (or one ``row``/``column`` per code,
        as the page's checkboxes send them), ``alpha``, ``min_base``, ``ci``."""
        def codes(name: str) -> tuple[str, ...]:
            ticked = args.getlist(name[:-1]) if hasattr(args, "getlist") else []
            listed = (args.get(name) or "").split(",") + list(ticked)
            return tuple(dict.fromkeys(code.strip() for code in listed if code.strip()))

        try:
            alpha = float(args.get("alpha") or DEFAULT_ALPHA)
            min_base = int(args.get("min_base") or DEFAULT_MIN_BASE)
        except ValueError as error:
            raise BannerError(f"alpha must be a number such as 0.05 and min_base a whole number ({error})") from error
        interval = args.get("ci") or "logit"
        if interval not in INTERVAL_METHODS:
            raise BannerError(f"ci must be one of {', '.join(INTERVAL_METHODS)}, not {interval!r}")
        return cls(codes("rows"), codes("columns"), alpha, min_base, interval)

    def query(self) -> dict[str, str]:
        """The query string that asks for this banner again."""
        return {"rows": ",".join(self.rows), "columns": ",".join(self.columns), "alpha": f"{self.alpha:g}",
                "min_base": str(self.min_base), "ci": self.interval}


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class _RowSpec:
    question: Question
    answer: str
    variable: str  # the frame column (a multiple-choice option has its own 0/1 column)
    categories: list


def _row_specs(question: Question) -> list[_RowSpec]:
    if question.multiple:
        return [_RowSpec(question, o.code, f"{question.code}{OPTION_SEPARATOR}{o.code}", [1]) for o in question.options]
    answers = [(o.code, [o.code]) for o in question.options] + [(n.code, list(n.answers)) for n in question.nets]
    return [_RowSpec(question, code, question.code, categories) for code, categories in answers]


def banner_spec(computed: ComputedRun, rows: Sequence[Question], columns: Sequence[str], interval: str,
                level: float = 0.95) -> dict[str, Any]:
    """The analysis spec of a banner: each row's share overall and by every banner variable,
    the pairwise tests between the levels of each banner variable, and the tests of independence."""
    estimates, tests = [], []
    for question in rows:
        for row in _row_specs(question):
            row_id = f"{question.code}={row.answer}"
            common = {"variable": row.variable, "type": "proportion", "categories": row.categories, "ci": interval,
                      "level": level}
            estimates.append({"id": row_id, **common})
            for variable in columns:
                estimates.append({"id": f"{row_id}@{variable}", **common, "by": variable})
                if variable != question.code:
                    tests.append({"id": f"{row_id}@{variable}", "type": "pairwise", "variable": row.variable,
                                  "categories": row.categories, "by": variable})
        if not question.multiple:
            tests += [{"id": f"{question.code}@{variable}", "type": "independence", "row": question.code,
                       "column": variable} for variable in columns if variable != question.code]
    spec = build_spec(computed.settings, len(computed.frame), estimates, data_file=computed.spec["data"])
    spec["tests"] = tests
    return spec


# --------------------------------------------------------------------------- the banner


def build_banner(
    run,
    options: BannerOptions = BannerOptions(),
    nets: Optional[Mapping[str, Sequence[Net]]] = None,
    language: str = "en",
) -> Banner:
    """The banner of ``run``: ``options.rows`` (question codes, default every opinion question) by
    ``options.columns`` (banner variables, default the weighting demographics), letters at
    ``options.alpha``; ``nets`` adds the pollster's nets to the rows.

    Raises ``BannerError`` for a choice the survey does not offer, ``WeightingError`` if the
    analysis cannot be done.
    """
    rows, columns, alpha, min_base, interval = (options.rows, options.columns, options.alpha, options.min_base,
                                                options.interval)
    if not 0 < alpha < 1:
        raise BannerError(f"alpha is a significance level between 0 and 1 (e.g. 0.05), not {alpha}")
    if min_base < 0:
        raise BannerError(f"the minimum base is a number of respondents, not {min_base}")
    computed = compute(run, interval, estimates=False, nets=nets)
    questions = computed.data.questions
    row_codes = _choose(rows, [q.code for q in banner_rows(questions)], default_rows(questions), "row")
    column_codes = _choose(columns, [code for code, _ in crossable(questions)], default_columns(questions), "column")
    if not column_codes:
        raise BannerError("this survey has no single-choice question to use as a banner column")
    by_code = {q.code: q for q in questions}
    row_questions = [by_code[code] for code in row_codes]
    spec = banner_spec(computed, row_questions, column_codes, interval)
    result = run_analysis(spec, computed.frame)

    frame, weights = computed.frame, result.weights
    banner_columns, members = _columns(frame, weights, [by_code[code] for code in column_codes], min_base, language)
    letter_of = {(c.variable, c.level): c.letter for c in banner_columns}
    low = {(c.variable, c.level) for c in banner_columns if c.low_base}
    estimates: dict[tuple[str, Optional[str]], Estimate] = {
        (id_, None if item.domain is None else str(item.domain)): item
        for id_, found in result.estimates.items() for item in found}
    pairwise = {id_: test for id_, test in result.tests.items() if isinstance(test, PairwiseTests)}

    row_bases: dict[str, tuple[float, list[float]]] = {}  # per frame column: weighted base, overall and per banner column
    banner_rows_out = []
    for question in row_questions:
        for row in _row_specs(question):
            row_id = f"{question.code}={row.answer}"
            if row.variable not in row_bases:
                answered = frame[row.variable].notna().to_numpy()
                row_bases[row.variable] = (float(weights[answered].sum()),
                                           [float(weights[answered & inside].sum()) for inside in members])
            total_base, column_bases = row_bases[row.variable]
            total = _cell(estimates.get((row_id, None)), TOTAL, None, total_base, False)
            cells = []
            for column, column_base in zip(banner_columns, column_bases):
                item = estimates.get((f"{row_id}@{column.variable}", column.level))
                cell_low = (column.variable, column.level) in low or (item.n if item else 0) < min_base
                cells.append(_cell(item, column.variable, column.level, column_base, cell_low))
            pairs = [(variable, pair) for variable in column_codes
                     for pair in pairwise.get(f"{row_id}@{variable}", ())]
            banner_rows_out.append(BannerRow(question.code, question.label(language), row.answer,
                                             question.option_label(row.answer, language),
                                             question.net(row.answer) is not None, total,
                                             tuple(_with_letters(cells, pairs, letter_of, alpha))))
    independence = []
    for test in spec["tests"]:
        if test["type"] != "independence":
            continue
        found = result.tests.get(test["id"])
        independence.append(IndependenceTest(test["row"], test["column"], *(
            finite_or_none(getattr(found, name, None)) for name in ("statistic", "ndf", "ddf", "p_value"))))
    bases = [BannerQuestion(question.code, question.label(language), *astuple(question_base(computed, question, language)))
             for question in row_questions]
    return Banner(run.id, alpha, min_base, interval, int(result.degf), len(frame), float(weights.sum()), tuple(bases),
                  tuple((code, by_code[code].label(language)) for code in column_codes), tuple(banner_columns),
                  tuple(banner_rows_out), tuple(independence), spec)


def _columns(frame, weights: np.ndarray, variables: Sequence[Question], min_base: int,
             language: str) -> tuple[list[BannerColumn], list[np.ndarray]]:
    """Every level with respondents of every banner variable, in questionnaire order, lettered,
    and each one's respondents (a mask of the frame's rows, made once for every row's bases)."""
    found, members = [], []
    for question in variables:
        values = frame[question.code].astype(object)
        for option in question.options:
            inside = (values == option.code).to_numpy()
            if inside.any():
                found.append((question, option.code, int(inside.sum()), float(weights[inside].sum())))
                members.append(inside)
    columns = [
        BannerColumn(question.code, question.label(language), level, question.option_label(level, language), letter,
                     n, weighted_n, n < min_base)
        for (question, level, n, weighted_n), letter in zip(found, _letters(len(found)))
    ]
    return columns, members


def _with_letters(cells: list[Cell], pairs: Sequence[tuple[str, PairDifference]],
                  letter_of: Mapping[tuple[str, str], str], alpha: float) -> list[Cell]:
    """Each cell with the letters of the columns of its banner variable it is significantly higher
    than (pairwise p-value under ``alpha``); a low-base cell neither gets nor gives a letter."""
    by_key = {(cell.variable, cell.level): cell for cell in cells}
    higher: dict[tuple[str, str], list[str]] = {key: [] for key in by_key}
    for variable, pair in pairs:
        a, b = (variable, str(pair.a)), (variable, str(pair.b))
        if a not in by_key or b not in by_key or by_key[a].low_base or by_key[b].low_base:
            continue
        p_value, difference = finite_or_none(pair.p_value), finite_or_none(pair.difference)
        if p_value is None or difference is None or p_value >= alpha or difference == 0:
            continue
        winner, loser = (a, b) if difference > 0 else (b, a)
        higher[winner].append(letter_of[loser])
    order = list(letter_of.values())
    return [replace(cell, higher_than=tuple(sorted(higher[(cell.variable, cell.level)], key=order.index)))
            for cell in cells]


def _cell(item: Optional[Estimate], variable: str, level: Optional[str], weighted_n: float, low_base: bool) -> Cell:
    """A cell from analysis' estimate for it (none: nobody in the column answered)."""
    if item is None:
        return Cell(variable, level, None, None, None, None, 0, weighted_n, (), low_base)
    return Cell(variable, level, finite_or_none(item.estimate), finite_or_none(item.se), finite_or_none(item.ci_low),
                finite_or_none(item.ci_high), int(item.n), weighted_n, (), low_base)
