"""The bridge from the database to the statistics: complete responses -> one DataFrame.

One row per complete respondent (index ``respondent_id``, the response's row number, which
reveals nothing), one column per question code holding the option codes of the
questionnaire; a multiple-choice question becomes one 0/1 column per option,
``<question>__<option>``. Free text, invitation tokens, panel ids, resume or browser hashes
never enter the frame, so nothing built from it (weighting data, downloads) can leak them.
Quality flags (``survey.responses.quality``) and the exclusion rules that use them travel beside it.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np
import pandas as pd
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, PageVisit, Response, ResponseStatus, Survey, as_utc
from survey.questionnaires.model import Net
from survey.responses.quality import ExclusionRules, quality_flags

MULTIPLE_TYPES = frozenset({"multiple"})
NUMBER_TYPES = frozenset({"number", "rating"})
TEXT_TYPES = frozenset({"text"})
GRID_MIN_ITEMS = 3
OPTION_SEPARATOR = "__"


@dataclass(frozen=True)
class OptionInfo:
    code: str
    label: dict[str, str]


@dataclass(frozen=True)
class QuestionInfo:
    """What the analysis and the downloads need to know about one question."""

    code: str
    type: str
    text: dict[str, str]
    page: str
    options: tuple[OptionInfo, ...]
    weighting_variable: Optional[str] = None
    scale: Optional[tuple[float, float]] = None
    screener: bool = False  # eligibility question: every complete respondent gave an eligible answer
    attention_check: bool = False  # a question with a right answer, asked only to spot inattention
    nets: tuple[Net, ...] = ()  # the questionnaire's nets, then any the pollster added on the results page
    asked_of: Optional[dict[str, str]] = None  # who was asked, in words; None: every respondent

    @property
    def multiple(self) -> bool:
        return self.type in MULTIPLE_TYPES

    @property
    def numeric(self) -> bool:
        return self.type in NUMBER_TYPES

    @property
    def closed(self) -> bool:
        """Answered by choosing among options: these get toplines and charts."""
        return bool(self.options) and not self.numeric

    @property
    def columns(self) -> tuple[str, ...]:
        if self.multiple:
            return tuple(f"{self.code}{OPTION_SEPARATOR}{option.code}" for option in self.options)
        return (self.code,)

    def label(self, language: str = "en") -> str:
        return self.text.get(language) or next(iter(self.text.values()), self.code)

    def option_label(self, code: str, language: str = "en") -> str:
        for option in list(self.options) + list(self.nets):
            if option.code == code:
                return option.label.get(language) or next(iter(option.label.values()), code)
        return code

    def with_nets(self, added: Iterable[Net]) -> "QuestionInfo":
        """This question with nets a pollster added on the results page; a net with the answers
        of one the question already has is that net, kept once."""
        known = {frozenset(net.answers) for net in self.nets}
        return replace(self, nets=self.nets + tuple(net for net in added if frozenset(net.answers) not in known))

    def net(self, code: str) -> Optional[Net]:
        return next((net for net in self.nets if net.code == code), None)

    def base_text(self, language: str = "en") -> str:
        """Who was asked, for a table's base line."""
        if self.asked_of is None:
            return "All respondents" if language == "en" else "Todas las personas encuestadas"
        return self.asked_of.get(language) or next(iter(self.asked_of.values()))


def questions_of(survey: Survey) -> list[QuestionInfo]:
    """The survey's questions that carry analysable answers (free text is left out), in order."""
    documents = {q.get("code"): q for q in _definition_questions(survey)}
    infos = []
    for question in survey.questions:
        if question.type in TEXT_TYPES:
            continue
        document = documents.get(question.code, {})
        scale = None
        if question.type == "rating" and "minimum" in document and "maximum" in document:
            scale = (float(document["minimum"]), float(document["maximum"]))
        options = tuple(OptionInfo(o.code, dict(o.label or {})) for o in question.options)
        infos.append(
            QuestionInfo(
                code=question.code,
                type=question.type,
                text=dict(question.text or {}),
                page=question.page,
                options=options,
                weighting_variable=question.weighting_variable,
                scale=scale,
                screener=bool(document.get("screener")),
                attention_check=bool(document.get("attention_check")),
                nets=tuple(Net.from_document(code, raw, options) for code, raw in (document.get("nets") or {}).items()),
                asked_of=_asked_of(document, survey),
            )
        )
    return infos


def _asked_of(document: Mapping[str, Any], survey: Survey) -> Optional[dict[str, str]]:
    """The questionnaire's ``base`` wording, else the ``show_if`` condition said in words."""
    if not document.get("show_if"):
        return None
    if document.get("base"):
        return dict(document["base"])
    condition = document["show_if"]
    if not isinstance(condition, Mapping) or "question" not in condition:  # all/any: too long for a base line
        return {"en": "Asked of some respondents only (see the questionnaire's conditions)",
                "es": "Preguntada solo a una parte de las personas (vea las condiciones del cuestionario)"}
    other = next((q for q in survey.questions if q.code == condition["question"]), None)
    labels = {o.code: (o.label or {}).get("en", o.code) for o in other.options} if other else {}
    for operator, words in (("in", "answered"), ("not_in", "did not answer"), ("at_least", "answered at least"),
                            ("at_most", "answered at most")):
        if operator in condition:
            values = condition[operator] if isinstance(condition[operator], list) else [condition[operator]]
            answers = " or ".join(f"“{labels.get(str(v), v)}”" for v in values)
            return {"en": f"Asked of those who {words} {answers} to {condition['question']}"}
    return None


def crossable(questions: Iterable[QuestionInfo]) -> list[tuple[str, str]]:
    """(code, text) of the questions a crosstab can be cut by: every single-choice question
    that is not a screener or an attention check (those have one answer among completes)."""
    return [(q.code, q.label()) for q in questions
            if q.closed and not q.multiple and not q.screener and not q.attention_check]


def _definition_questions(survey: Survey) -> Iterable[Mapping[str, Any]]:
    definition = survey.definition or {}
    for page in definition.get("pages", []) or []:
        if isinstance(page, Mapping):
            yield from (q for q in page.get("questions", []) or [] if isinstance(q, Mapping))
    yield from (q for q in definition.get("questions", []) or [] if isinstance(q, Mapping))


def attention_checks(survey: Survey) -> dict[str, set[str]]:
    """Question code -> accepted answers, for questions the questionnaire marks as attention checks."""
    checks: dict[str, set[str]] = {}
    for question in _definition_questions(survey):
        check = question.get("attention_check")
        if not check:
            continue
        accepted = check.get("accept") if isinstance(check, Mapping) else check
        if isinstance(accepted, str):
            accepted = [accepted]
        checks[question["code"]] = {str(code) for code in accepted or []}
    return checks


def grids(questions: Iterable[QuestionInfo]) -> dict[str, list[str]]:
    """Grids and rating batteries: questions on one page sharing one answer scale.

    A questionnaire needs no special markup for straight-lining to be checked: a battery is
    recognised by its shape (at least ``GRID_MIN_ITEMS`` single-choice items with identical
    option codes, or rating items with the same minimum and maximum).
    """
    batteries: dict[tuple[str, tuple], list[str]] = defaultdict(list)
    for question in questions:
        if question.closed and not question.multiple:
            batteries[(question.page, tuple(o.code for o in question.options))].append(question.code)
        elif question.scale is not None:
            batteries[(question.page, question.scale)].append(question.code)
    return {
        f"{page}:{scale}": items for (page, scale), items in batteries.items() if len(items) >= GRID_MIN_ITEMS
    }


def _cell(question: QuestionInfo, value: Any) -> dict[str, Any]:
    """The frame cells one stored answer fills."""
    if question.multiple:
        chosen = set(value if isinstance(value, list) else [value]) if value is not None else None
        return {
            column: (None if chosen is None else int(option.code in chosen))
            for column, option in zip(question.columns, question.options)
        }
    if question.numeric:
        try:
            return {question.code: float(value)} if value is not None else {}
        except (TypeError, ValueError):
            return {}
    if isinstance(value, list):  # a single choice stored as a one-element list
        value = value[0] if len(value) == 1 else None
    return {question.code: None if value is None else str(value)}


@dataclass
class ResponseData:
    """Complete responses of one survey as a frame, with paradata, quality flags and exclusions.

    ``answers`` and ``paradata`` share the index ``respondent_id``; ``included`` is the frame
    the analysis uses (exclusions applied), ``snapshot`` identifies exactly which responses,
    at which version, went into it.
    """

    survey: Survey
    questions: list[QuestionInfo]
    answers: pd.DataFrame
    paradata: pd.DataFrame
    flags: pd.DataFrame
    rules: ExclusionRules
    excluded: pd.Series = field(init=False)

    def __post_init__(self) -> None:
        self.excluded = self.rules.excluded(self.flags, self.paradata["simulated"])

    @property
    def included(self) -> pd.DataFrame:
        """The analysis frame: answers of the responses the rules keep, plus the interview language."""
        kept = self.answers.loc[~self.excluded]
        return kept.assign(language=self.paradata.loc[kept.index, "language"])

    @property
    def included_ids(self) -> list[int]:
        return [int(i) for i in self.answers.index[~self.excluded]]

    @property
    def snapshot(self) -> str:
        """A hash of the included responses' ids and last-change times: the cache key's data part."""
        stamps = self.paradata.loc[~self.excluded, "updated_at"]
        text = ";".join(f"{int(i)}@{as_utc(t).isoformat() if t is not None else ''}" for i, t in stamps.items())
        return hashlib.sha256(text.encode()).hexdigest()

    def flag_counts(self) -> dict[str, int]:
        counts = {name: int(self.flags[name].sum()) for name in self.flags.columns}
        counts["excluded"] = int(self.excluded.sum())
        counts["complete"] = len(self.answers)
        counts["included"] = len(self.answers) - counts["excluded"]
        return counts


def load_responses(survey: Survey, rules: ExclusionRules | None = None) -> ResponseData:
    """Read every complete response of ``survey`` into a ``ResponseData`` (two queries).

    The answers come in one query as (response, question, JSON text) rows; each distinct text
    is decoded and turned into frame cells once (``_cell``), and the cells are spread over
    the respondents by pandas, so the cost per respondent is pandas', not Python's.
    """
    rules = rules or ExclusionRules()
    questions = questions_of(survey)
    complete = sa.and_(Response.survey_id == survey.id, Response.status == ResponseStatus.COMPLETE.value)
    page_seconds = (
        sa.select(PageVisit.response_id, sa.func.sum(PageVisit.seconds).label("page_seconds"))
        .group_by(PageVisit.response_id)
        .subquery()
    )
    meta = _frame(
        sa.select(Response.id, Response.language, Response.started_at, Response.completed_at, Response.updated_at,
                  Response.user_agent_hash, Response.simulated, page_seconds.c.page_seconds)
        .outerjoin(page_seconds, page_seconds.c.response_id == Response.id)
        .where(complete)
        .order_by(Response.id)
    )
    index = pd.Index(meta["id"].astype("int64"), name="respondent_id")
    stored = _frame(
        sa.select(Answer.response_id, Answer.question_code, sa.cast(Answer.value, sa.Text).label("value"))
        .join(Response, Response.id == Answer.response_id)
        .where(complete)
    )
    answers = _answer_frame(questions, stored, index)

    started, completed = _utc_column(meta["started_at"]), _utc_column(meta["completed_at"])
    wall_seconds = (completed - started).dt.total_seconds()
    paradata = pd.DataFrame(
        {
            "language": meta["language"].to_numpy(),
            "completed_at": completed.to_numpy(),
            "updated_at": _utc_column(meta["updated_at"]).to_numpy(),
            "user_agent_hash": meta["user_agent_hash"].to_numpy(),
            "simulated": meta["simulated"].astype(bool).to_numpy(),
            # time on the pages (paradata) if recorded, else the wall time from start to completion
            "duration_seconds": pd.to_numeric(meta["page_seconds"]).astype(float).fillna(wall_seconds).to_numpy(),
        },
        index=index,
    )
    paradata["completed_at"] = pd.to_datetime(paradata["completed_at"], utc=True)
    paradata["updated_at"] = pd.to_datetime(paradata["updated_at"], utc=True)
    flags = quality_flags(
        answers,
        durations=paradata["duration_seconds"],
        user_agent_hash=paradata["user_agent_hash"],
        completed_at=paradata["completed_at"],
        rules=rules,
        grids=grids(questions),
        attention_checks=attention_checks(survey),
    )
    return ResponseData(survey=survey, questions=questions, answers=answers, paradata=paradata, flags=flags, rules=rules)


def _frame(statement: sa.Select) -> pd.DataFrame:
    """The rows of one query as a DataFrame, columns named as the statement names them (built
    column by column: pandas inspects each SQLAlchemy row object it is given)."""
    result = db.session.connection().execute(statement)
    names = list(result.keys())
    columns = list(zip(*result.all())) or [()] * len(names)
    return pd.DataFrame({name: pd.Series(column, dtype=object) for name, column in zip(names, columns)})


def _utc_column(values: pd.Series) -> pd.Series:
    """Timestamps in UTC (SQLite returns naive ones, stored in UTC)."""
    return pd.to_datetime(values, utc=True)


def _answer_frame(questions: list[QuestionInfo], stored: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """One row per respondent of ``index``, one column per question column, from (response, code, JSON text) rows."""
    by_code = {q.code: q for q in questions}
    stored = stored[stored["question_code"].isin(list(by_code))]
    value_ids, texts = pd.factorize(stored["value"], use_na_sentinel=False)
    values = [None if text is None else json.loads(text) for text in texts]
    rows = index.get_indexer(stored["response_id"])
    columns: dict[str, pd.Series] = {}
    for code, positions in stored.groupby("question_code", sort=False).indices.items():
        question = by_code[code]
        # each distinct stored value becomes cells once; the respondents then only index into them
        used, where = np.unique(value_ids[positions], return_inverse=True)
        cells = [_cell(question, values[i]) for i in used]
        for column in question.columns:
            filled = np.array([cell.get(column) for cell in cells], dtype=object)[where.ravel()]
            target = np.full(len(index), None, dtype=object)
            target[rows[positions]] = filled
            columns[column] = target
    ordered = [column for question in questions for column in question.columns]
    answers = pd.DataFrame({column: columns.get(column, np.full(len(index), None, dtype=object)) for column in ordered},
                           index=index, columns=ordered)
    return typed_answers(answers, questions)


def typed_answers(answers: pd.DataFrame, questions: list[QuestionInfo]) -> pd.DataFrame:
    """The frame's column types: numbers as floats, multiple-choice columns as nullable 0/1
    integers, codes as objects with None for no answer."""
    for question in questions:
        if question.numeric:
            answers[question.code] = pd.to_numeric(answers[question.code], errors="coerce")
        elif question.multiple:
            answers[list(question.columns)] = answers[list(question.columns)].astype("Float64").astype("Int64")
        else:
            answers[question.code] = answers[question.code].astype(object).where(answers[question.code].notna(), None)
    return answers
