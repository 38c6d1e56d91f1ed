"""Fieldwork in numbers: who started, finished, was screened out or broke off, and when.

Shared by the pollster pages and the API, so both always show the same figures.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from survey.extensions import db
from survey.models import Invitation, Response, ResponseStatus, Survey
from survey.responses.dataset import load_responses
from survey.responses.quality import FLAGS

BREAKOFF_AFTER = timedelta(hours=1)  # an unfinished response idle this long counts as broken off


@dataclass(frozen=True)
class FieldworkSummary:
    """Counts for one survey; rates are shares of eligible starts (started minus screened out)."""

    started: int
    completed: int
    screened_out: int
    in_progress: int
    broken_off: int
    simulated: int
    invitations: int
    invitations_used: int
    completions_by_day: tuple[tuple[date, int], ...]
    quality_flags: dict[str, int] | None = None  # complete responses per flag; None when not computed

    @property
    def excluded_by_quality(self) -> int | None:
        """Complete responses the default exclusion rules (``survey.responses.quality.ExclusionRules``) leave out."""
        return None if self.quality_flags is None else self.quality_flags["excluded"]

    @property
    def eligible(self) -> int:
        return self.started - self.screened_out

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.eligible if self.eligible else None

    @property
    def breakoff_rate(self) -> float | None:
        return self.broken_off / self.eligible if self.eligible else None

    @property
    def invitations_unused(self) -> int:
        return self.invitations - self.invitations_used

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["completions_by_day"] = [{"date": day.isoformat(), "completed": count} for day, count in self.completions_by_day]
        data.update(
            eligible=self.eligible,
            completion_rate=self.completion_rate,
            breakoff_rate=self.breakoff_rate,
            invitations_unused=self.invitations_unused,
            excluded_by_quality=self.excluded_by_quality,
        )
        return data


def fieldwork_summary(survey: Survey, *, quality: bool = True, now: datetime | None = None) -> FieldworkSummary:
    """Count the responses and invitations of ``survey`` as they stand at ``now`` (UTC).

    Every count is an aggregate query (by status, by day): no response row comes into Python.
    ``quality=True`` also flags the complete responses (speeders, straight-lining, failed
    attention checks, duplicates) through ``survey.responses.dataset.load_responses``, which reads every
    answer, so lists of many surveys leave it out.
    """
    now = now or datetime.now(timezone.utc)
    of_survey = Response.survey_id == survey.id

    def counted(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    by_status = {
        status: (total, broken_off, simulated, invited)
        for status, total, broken_off, simulated, invited in db.session.execute(
            sa.select(
                Response.status,
                sa.func.count(),
                counted(Response.updated_at < now - BREAKOFF_AFTER),
                counted(Response.simulated.is_(True)),
                sa.func.count(Response.invitation_id),
            ).where(of_survey).group_by(Response.status)
        )
    }
    invitations = db.session.scalar(sa.select(sa.func.count()).where(Invitation.survey_id == survey.id))
    day = _utc_day(Response.completed_at)
    per_day = db.session.execute(
        sa.select(day, sa.func.count()).where(of_survey, Response.status == ResponseStatus.COMPLETE.value).group_by(day)
    ).all()
    return FieldworkSummary(
        started=sum(counts[0] for counts in by_status.values()),
        completed=by_status.get(ResponseStatus.COMPLETE.value, (0,))[0],
        screened_out=by_status.get(ResponseStatus.SCREENED_OUT.value, (0,))[0],
        in_progress=by_status.get(ResponseStatus.IN_PROGRESS.value, (0,))[0],
        broken_off=by_status.get(ResponseStatus.IN_PROGRESS.value, (0, 0))[1],
        simulated=sum(counts[2] for counts in by_status.values()),
        invitations=invitations,
        invitations_used=sum(counts[3] for counts in by_status.values()),
        completions_by_day=_every_day({_as_date(moment): count for moment, count in per_day}),
        quality_flags=quality_counts(survey) if quality else None,
    )


def _utc_day(column: sa.ColumnElement[datetime]) -> sa.ColumnElement:
    """The UTC calendar day of a timestamp, in the database's SQL (SQLite keeps UTC text)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)


def _as_date(day: date | str) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def quality_counts(survey: Survey) -> dict[str, int]:
    """Complete responses per quality flag, and how many the default exclusion rules leave out."""
    counts = load_responses(survey).flag_counts()
    return {name: counts[name] for name in (*FLAGS, "excluded")}


def _every_day(counts: dict[date, int]) -> tuple[tuple[date, int], ...]:
    """Completions per UTC day from the first to the last, days without any included as 0."""
    if not counts:
        return ()
    first, last = min(counts), max(counts)
    return tuple((first + timedelta(days=offset), counts.get(first + timedelta(days=offset), 0)) for offset in range((last - first).days + 1))
