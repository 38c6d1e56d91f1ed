"""What the quality rules need to know of one complete response, kept on its row.

``survey.responses.quality``'s rules read every answer of a poll; for the fieldwork page's
counts (``survey.responses.flag_counts``) that grew with the poll (two million answers at
100,000 completes). Whatever in the rules depends on a single response's answers is worked
out once, when it completes, and stored on ``responses``; the page then aggregates one row per
response and applies the rules' parameters (speeder share, grid size, duplicate window) to
these facts:

- ``duration_seconds``: the time on the pages, else the wall time from start to completion;
- ``answers_signature``: a hash of the response's cells in the analysis frame, equal for two
  responses exactly when the duplicate rule finds their answers identical;
- ``straightlined_items``: the size of the largest battery answered with one answer on every
  item (0: none);
- ``attention_failed``: an attention check unanswered or answered otherwise;
- ``quality_version``: the questionnaire version (``Survey.source_hash``) they were worked out
  under: a new version can add questions or battery items, so older facts are then redone.

The bulk simulation computes them in memory (``FactRules.facts``); the site's completion and
the migration that added them read the answers back (``record``).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

import sqlalchemy as sa

from survey.models import Answer, PageVisit, Response, ResponseStatus, as_utc
from survey.questionnaires.model import Question, Questionnaire
from survey.responses.dataset import analysed_questions, attention_checks_of, frame_cells, grids

FACT_COLUMNS = ("duration_seconds", "answers_signature", "straightlined_items", "attention_failed", "quality_version")
_RESPONSES = Response.__table__
_STORE = sa.update(_RESPONSES).where(_RESPONSES.c.id == sa.bindparam("fact_id")).values(
    # updated_at given, so the column's onupdate keeps it: the facts are no change to the response
    {**{column: sa.bindparam(column) for column in FACT_COLUMNS}, "updated_at": _RESPONSES.c.updated_at})
_TIMES = (sa.select(Response.started_at, PageVisit.seconds).outerjoin(PageVisit, PageVisit.response_id == Response.id)
          .where(Response.id == sa.bindparam("response_id")).order_by(PageVisit.id))
_CHUNK = 500  # responses per read: well under SQLite's limit on bound parameters


@dataclass(frozen=True)
class FactRules:
    """The parts of one questionnaire version the facts depend on."""

    version: str
    questions: Sequence[Question]
    grids: Mapping[str, Sequence[str]]  # battery -> its items that are one frame column each
    checks: Mapping[str, Iterable[str]]  # attention check -> accepted answers, checks that are one column

    @classmethod
    def of(cls, questionnaire: Questionnaire, version: str) -> "FactRules":
        """The rules of ``questionnaire``, the survey's version ``version`` (its ``source_hash``)."""
        questions = analysed_questions(questionnaire)
        single = {q.code for q in questions if not q.multiple}  # the codes that are one column of the frame
        return cls(
            version=version,
            questions=questions,
            grids={name: [code for code in items if code in single] for name, items in grids(questions).items()},
            checks={code: accepted for code, accepted in attention_checks_of(questions).items() if code in single},
        )

    def facts(self, answers: Mapping[str, Any], page_seconds: Sequence[float],
              started_at: datetime, completed_at: datetime) -> dict[str, Any]:
        """The stored facts of a response with these stored answers (question code -> value),
        the seconds of its page visits in the order they were stored, and its times."""
        cells = frame_cells(self.questions, answers)
        duration = 0.0
        for seconds in page_seconds:  # added in order, as the database's sum adds them
            duration += seconds
        if not page_seconds:
            duration = (completed_at - started_at).total_seconds()
        straight = [len(items) for items in self.grids.values()
                    if items and all(cells.get(code) is not None for code in items)
                    and len({cells[code] for code in items}) == 1]
        return {
            "duration_seconds": duration,
            "answers_signature": hashlib.sha256(json.dumps(sorted(cells.items())).encode()).hexdigest(),
            "straightlined_items": max(straight, default=0),
            "attention_failed": any(cells.get(code) not in accepted for code, accepted in self.checks.items()),
            "quality_version": self.version,
        }


def on_completion(connection: sa.Connection, response_id: int, questionnaire: Questionnaire, version: str,
                  answers: Mapping[str, Any], *, completed_at: datetime, last_seconds: Optional[float]) -> dict[str, Any]:
    """The facts of a response that the save in hand completes, to store with its completion.

    Its answers are in hand; its start and the seconds of its earlier pages take one query,
    and ``last_seconds`` is the visit the save is storing (None: none), the last one stored.
    """
    rows = connection.execute(_TIMES, {"response_id": response_id}).all()
    seconds = [visit_seconds for _, visit_seconds in rows if visit_seconds is not None]
    if last_seconds is not None:
        seconds.append(last_seconds)
    return FactRules.of(questionnaire, version).facts(answers, seconds, as_utc(rows[0][0]), as_utc(completed_at))


def record(connection: sa.Connection, survey_id: int, questionnaire: Questionnaire, version: str,
           response_ids: Optional[Sequence[int]] = None) -> int:
    """Work out and store the facts of the survey's complete responses (only ``response_ids``
    if given) from their stored answers and page visits; returns how many were stored."""
    rules = FactRules.of(questionnaire, version)
    complete = sa.and_(Response.survey_id == survey_id, Response.status == ResponseStatus.COMPLETE.value)
    if response_ids is None:
        response_ids = connection.scalars(sa.select(Response.id).where(complete).order_by(Response.id)).all()
    stored = 0
    for start in range(0, len(response_ids), _CHUNK):
        chunk = list(response_ids[start:start + _CHUNK])
        times = connection.execute(
            sa.select(Response.id, Response.started_at, Response.completed_at).where(complete, Response.id.in_(chunk))
        ).all()
        answers: dict[int, dict[str, Any]] = {}
        for response_id, code, value in connection.execute(
                sa.select(Answer.response_id, Answer.question_code, Answer.value).where(Answer.response_id.in_(chunk))):
            answers.setdefault(response_id, {})[code] = value
        seconds: dict[int, list[float]] = {}
        for response_id, visit_seconds in connection.execute(
                sa.select(PageVisit.response_id, PageVisit.seconds).where(PageVisit.response_id.in_(chunk))
                .order_by(PageVisit.id)):
            seconds.setdefault(response_id, []).append(visit_seconds)
        rows = [{"fact_id": response_id, **rules.facts(answers.get(response_id, {}), seconds.get(response_id, ()),
                                                       started_at, completed_at)}
                for response_id, started_at, completed_at in times]
        if rows:
            connection.execute(_STORE, rows)
        stored += len(rows)
    return stored
