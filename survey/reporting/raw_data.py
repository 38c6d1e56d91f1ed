"""The unweighted raw-data file of a survey in the field: every response with its answers and
paradata, available before any weighting run.

One row per response, whatever its disposition (complete, screened out, broken off, still
answering), so a pollster can check the fieldwork. The file holds no IP address, user agent,
token, invitation or panel id, and no free-text answer; text cells are made formula-safe by
``analysis.export.iter_csv``. It streams batch by batch.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa

from analysis.export import iter_csv
from survey.extensions import db
from survey.models import Answer, PageVisit, Response, ResponseStatus, Survey, as_utc
from survey.reporting.fieldwork import BREAKOFF_AFTER, screening_pages
from survey.responses.dataset import load_responses, questions_of
from survey.responses.quality import FLAGS

BATCH = 2000
PARADATA_COLUMNS = ("respondent_id", "disposition", "screened_out_by", "language", "simulated", "started_at",
                    "ended_at", "duration_seconds")
QUALITY_COLUMNS = (*FLAGS, "excluded_by_default_rules")
DISPOSITIONS = ("complete", "screened_out", "broken_off", "left_at_screener", "in_progress")


def disposition(status: str, current_page: int, updated_at: datetime, screening: int, now: datetime) -> str:
    """A response's disposition, by the definitions of ``survey.reporting.fieldwork.FieldworkSummary``."""
    if status != ResponseStatus.IN_PROGRESS.value:
        return status
    if as_utc(updated_at) >= now - BREAKOFF_AFTER:
        return "in_progress"
    return "broken_off" if current_page >= screening else "left_at_screener"


def raw_data_csv(survey: Survey, now: datetime | None = None) -> Iterator[bytes]:
    """The raw-data file as CSV chunks (UTF-8 with a byte-order mark, so Excel reads accents).

    What needs the survey object is read now; the chunks then only query by its id, so they
    can be streamed after the view has returned.
    """
    codes = [q.code for q in questions_of(survey)]  # free text may identify someone, so it is left out
    data = load_responses(survey)
    flags = data.flags.assign(excluded_by_default_rules=data.excluded)
    batches = _batches(survey.id, codes, flags, screening_pages(survey), now or datetime.now(timezone.utc))
    return iter_csv(batches, columns=[*PARADATA_COLUMNS, *QUALITY_COLUMNS, *codes], bom=True)


def _batches(survey_id: int, codes: list[str], flags: pd.DataFrame, screening: int,
             now: datetime) -> Iterator[list[dict[str, Any]]]:
    seconds = (sa.select(sa.func.sum(PageVisit.seconds)).where(PageVisit.response_id == Response.id)
               .scalar_subquery().label("seconds"))
    last_id = 0
    while True:
        rows = db.session.execute(
            sa.select(Response.id, Response.status, Response.current_page, Response.screened_out_by, Response.language,
                      Response.simulated, Response.started_at, Response.updated_at, Response.completed_at, seconds)
            .where(Response.survey_id == survey_id, Response.id > last_id).order_by(Response.id).limit(BATCH)
        ).all()
        if not rows:
            return
        answers: dict[int, dict[str, Any]] = {row.id: {} for row in rows}
        for response_id, code, value in db.session.execute(
            sa.select(Answer.response_id, Answer.question_code, Answer.value)
            .where(Answer.response_id.in_(list(answers)), Answer.question_code.in_(codes))
        ):
            answers[response_id][code] = " ".join(map(str, value)) if isinstance(value, list) else value
        yield [_row(row, answers[row.id], flags, screening, now) for row in rows]
        last_id = rows[-1].id


def _row(row, answers: dict[str, Any], flags: pd.DataFrame, screening: int, now: datetime) -> dict[str, Any]:
    ended = row.completed_at or row.updated_at
    duration = row.seconds if row.seconds is not None else (as_utc(ended) - as_utc(row.started_at)).total_seconds()
    quality = flags.loc[row.id] if row.id in flags.index else None
    return {
        "respondent_id": row.id,
        "disposition": disposition(row.status, row.current_page, row.updated_at, screening, now),
        "screened_out_by": row.screened_out_by,
        "language": row.language,
        "simulated": int(bool(row.simulated)),
        "started_at": as_utc(row.started_at).isoformat(),
        "ended_at": as_utc(ended).isoformat(),
        "duration_seconds": round(duration, 1),
        **{name: None if quality is None else int(bool(quality[name])) for name in QUALITY_COLUMNS},
        **answers,
    }

