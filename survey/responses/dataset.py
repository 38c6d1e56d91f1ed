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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, PageVisit, Response, ResponseStatus, Survey, as_utc
from survey.questionnaires.model import Question, Questionnaire
from survey.questionnaires.sync import questionnaire_of
from survey.responses.quality import ExclusionRules, quality_flags

GRID_MIN_ITEMS = 3


def questions_of(survey: Survey) -> list[Question]:
    """The survey's questions that carry analysable answers (free text is left out), in order."""
    return analysed_questions(questionnaire_of(survey))


def analysed_questions(questionnaire: Questionnaire) -> list[Question]:
    """``questions_of`` for a questionnaire not read from a survey row (a migration's, say)."""
    return [question for question in questionnaire.questions if question.type != "text"]


def crossable(questions: Iterable[Question]) -> list[tuple[str, str]]:
    """(code, text) of the questions a crosstab can be cut by: every single-choice question
    that is not a screener or an attention check (those have one answer among completes)."""
    return [(q.code, q.label()) for q in questions
            if q.closed and not q.multiple and not q.screener and not q.attention_check]


def attention_checks(survey: Survey) -> dict[str, set[str]]:
    """Question code -> accepted answers, for questions the questionnaire marks as attention checks."""
    return attention_checks_of(questionnaire_of(survey).questions)


def attention_checks_of(questions: Iterable[Question]) -> dict[str, set[str]]:
    """``attention_checks`` of these questions."""
    return {q.code: {q.attention_check} for q in questions if q.attention_check}


def grids(questions: Iterable[Question]) -> dict[str, list[str]]:
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


def _cell(question: Question, value: Any) -> dict[str, Any]:
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


def frame_cells(questions: Iterable[Question], answers: Mapping[str, Any]) -> dict[str, Any]:
    """One response's row of the analysis frame, every column of ``questions``, from its stored
    answers (question code -> value): the values ``load_responses`` puts in its cells, None
    where it has no answer."""
    cells: dict[str, Any] = {}
    for question in questions:
        cells.update(dict.fromkeys(question.columns))
        if question.code in answers:
            cells.update(_cell(question, answers[question.code]))
    return cells


@dataclass
class ResponseData:
    """Complete responses of one survey as a frame, with paradata, quality flags and exclusions.

    ``answers`` and ``paradata`` share the index ``respondent_id``; ``included`` is the frame
    the analysis uses (exclusions applied), ``snapshot`` identifies exactly which responses,
    at which version, went into it.
    """

    survey: Survey
    questions: list[Question]
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


def _answer_frame(questions: list[Question], stored: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
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


def typed_answers(answers: pd.DataFrame, questions: list[Question]) -> pd.DataFrame:
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
