"""Fieldwork in numbers: who started, finished, was screened out or broke off, and when.

Shared by the pollster pages and the API, so both always show the same figures.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Invitation, PageVisit, Response, ResponseStatus, Survey
from survey.quality import ExclusionRules, speeders

BREAKOFF_AFTER = timedelta(hours=1)  # an unfinished response idle this long counts as broken off


@dataclass(frozen=True)
class FieldworkSummary:
    """Counts for one survey; rates are shares of eligible starts (started minus screened out)."""

    started: int
    completed: int
    screened_out: int
    in_progress: int
    broken_off: int
    excluded_by_quality: int
    simulated: int
    invitations: int
    invitations_used: int
    completions_by_day: tuple[tuple[date, int], ...]

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
        )
        return data


def fieldwork_summary(survey: Survey, now: datetime | None = None) -> FieldworkSummary:
    """Count the responses and invitations of ``survey`` as they stand at ``now`` (UTC)."""
    now = now or datetime.now(timezone.utc)
    of_survey = Response.survey_id == survey.id
    by_status = dict(db.session.execute(sa.select(Response.status, sa.func.count()).where(of_survey).group_by(Response.status)).all())
    idle_since = now - BREAKOFF_AFTER
    broken_off = db.session.scalar(
        sa.select(sa.func.count()).where(
            of_survey, Response.status == ResponseStatus.IN_PROGRESS.value, Response.updated_at < idle_since
        )
    )
    simulated = db.session.scalar(sa.select(sa.func.count()).where(of_survey, Response.simulated.is_(True)))
    invitations = db.session.scalar(sa.select(sa.func.count()).where(Invitation.survey_id == survey.id))
    invitations_used = db.session.scalar(sa.select(sa.func.count()).where(of_survey, Response.invitation_id.is_not(None)))
    completed_at = db.session.scalars(
        sa.select(Response.completed_at).where(of_survey, Response.status == ResponseStatus.COMPLETE.value)
    ).all()
    return FieldworkSummary(
        started=sum(by_status.values()),
        completed=by_status.get(ResponseStatus.COMPLETE.value, 0),
        screened_out=by_status.get(ResponseStatus.SCREENED_OUT.value, 0),
        in_progress=by_status.get(ResponseStatus.IN_PROGRESS.value, 0),
        broken_off=broken_off,
        excluded_by_quality=len(quality_exclusions(survey)),
        simulated=simulated,
        invitations=invitations,
        invitations_used=invitations_used,
        completions_by_day=_per_day(completed_at),
    )


def quality_exclusions(survey: Survey, rules: ExclusionRules | None = None) -> set[int]:
    """IDs of complete responses that ``rules`` leave out of the analysis.

    Only the speeder flag is computed here, from page timings; straight-lining, attention
    checks and duplicates need the answers frame that the results bridge builds, and join
    this set once it exposes them.
    """
    rules = rules or ExclusionRules()
    if "speeder" not in rules.exclude:
        return set(rules.extra_excluded_ids)
    seconds = dict(
        db.session.execute(
            sa.select(Response.id, sa.func.sum(PageVisit.seconds))
            .join(PageVisit, PageVisit.response_id == Response.id)
            .where(Response.survey_id == survey.id, Response.status == ResponseStatus.COMPLETE.value)
            .group_by(Response.id)
        ).all()
    )
    durations = pd.Series(seconds, dtype=float)
    flagged = speeders(durations, rules.speeder_share)
    return set(flagged[flagged].index.astype(int)) | set(rules.extra_excluded_ids)


def _per_day(moments: list[datetime]) -> tuple[tuple[date, int], ...]:
    """Completions per UTC day from the first to the last, days without any included as 0."""
    if not moments:
        return ()
    counts = Counter(_as_utc(moment).date() for moment in moments)
    first, last = min(counts), max(counts)
    return tuple((first + timedelta(days=offset), counts.get(first + timedelta(days=offset), 0)) for offset in range((last - first).days + 1))


def _as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored in UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)

