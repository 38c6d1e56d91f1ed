"""Fieldwork in numbers: who started, finished, was screened out or broke off, and when.

Shared by the pollster pages and the API, so both always show the same figures.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, Invitation, Response, ResponseStatus, Survey
from survey.questionnaires.model import Question
from survey.questionnaires.sync import questionnaire_of
from survey.responses.flag_counts import flag_counts
from survey.responses.quality import FLAGS
from survey.weighting.targets import Targets

BREAKOFF_AFTER = timedelta(hours=1)  # an unfinished response idle this long counts as broken off


@dataclass(frozen=True)
class FieldworkSummary:
    """Counts for one survey, with AAPOR's dispositions for a web survey.

    A respondent's eligibility is known once they pass the last screening page. Break-offs
    are eligible respondents who stopped (idle for ``BREAKOFF_AFTER``) before the end; people
    who stopped on the screening questions are of unknown eligibility and count in neither
    the break-offs nor the eligible starts (AAPOR, *Standard Definitions*: a break-off is an
    eligible case that began the interview). Rates are shares of eligible starts: completes,
    break-offs and eligible respondents still answering.
    """

    started: int
    completed: int
    screened_out: int
    in_progress: int
    broken_off: int
    left_at_screener: int  # stopped before eligibility was known (unknown eligibility)
    in_progress_eligible: int  # past the screener and still answering
    simulated: int
    invitations: int
    invitations_used: int
    completions_by_day: tuple[tuple[date, int], ...]
    screened_out_by: dict[str, int] = field(default_factory=dict)  # screening question -> screen-outs
    quality_flags: dict[str, int] | None = None  # complete responses per flag; None when not computed

    @property
    def excluded_by_quality(self) -> int | None:
        """Complete responses the default exclusion rules (``survey.responses.quality.ExclusionRules``) leave out."""
        return None if self.quality_flags is None else self.quality_flags["excluded"]

    @property
    def eligible(self) -> int:
        return self.completed + self.broken_off + self.in_progress_eligible

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


def screening_pages(survey: Survey) -> int:
    """How many pages from the start a respondent must submit before their eligibility is known
    (up to and including the last page with a screening question; 0 without any)."""
    pages = questionnaire_of(survey).pages
    last = max((index for index, page in enumerate(pages) if any(q.screener for q in page.questions)), default=-1)
    return last + 1


def fieldwork_summary(survey: Survey, *, quality: bool = True, now: datetime | None = None) -> FieldworkSummary:
    """Count the responses and invitations of ``survey`` as they stand at ``now`` (UTC), in SQL.

    Every count is an aggregate query (by status, by day): no response row comes into Python.
    ``quality=True`` also counts the complete responses' quality flags (speeders,
    straight-lining, failed attention checks, duplicates; ``survey.responses.flag_counts``),
    which reads every complete response's row, so lists of many surveys leave it out.
    """
    now = now or datetime.now(timezone.utc)
    of_survey = Response.survey_id == survey.id
    past_screener = (Response.current_page >= screening_pages(survey)).label("past_screener")
    idle = (Response.updated_at < now - BREAKOFF_AFTER).label("idle")
    counts = db.session.execute(
        sa.select(Response.status, past_screener, idle, sa.func.count()).where(of_survey)
        .group_by(Response.status, past_screener, idle)
    ).all()

    def count(status: ResponseStatus, eligible: bool | None = None, stopped: bool | None = None) -> int:
        return sum(n for row_status, row_eligible, row_idle, n in counts if row_status == status.value
                   and (eligible is None or bool(row_eligible) == eligible) and (stopped is None or bool(row_idle) == stopped))

    screened_out_by = dict(db.session.execute(
        sa.select(Response.screened_out_by, sa.func.count())
        .where(of_survey, Response.status == ResponseStatus.SCREENED_OUT.value).group_by(Response.screened_out_by)
    ).all())
    simulated = db.session.scalar(sa.select(sa.func.count()).where(of_survey, Response.simulated.is_(True)))
    invitations_used = db.session.scalar(sa.select(sa.func.count()).where(of_survey, Response.invitation_id.is_not(None)))
    invitations = db.session.scalar(sa.select(sa.func.count()).where(Invitation.survey_id == survey.id))
    day = _utc_day(Response.completed_at)
    per_day = db.session.execute(
        sa.select(day, sa.func.count()).where(of_survey, Response.status == ResponseStatus.COMPLETE.value).group_by(day)
    ).all()
    in_progress = ResponseStatus.IN_PROGRESS
    return FieldworkSummary(
        started=sum(row[-1] for row in counts),
        completed=count(ResponseStatus.COMPLETE),
        screened_out=count(ResponseStatus.SCREENED_OUT),
        in_progress=count(in_progress),
        broken_off=count(in_progress, eligible=True, stopped=True),
        left_at_screener=count(in_progress, eligible=False, stopped=True),
        in_progress_eligible=count(in_progress, eligible=True, stopped=False),
        simulated=simulated,
        invitations=invitations,
        invitations_used=invitations_used,
        completions_by_day=_every_day({_as_date(moment): count for moment, count in per_day}),
        screened_out_by={str(code or "unknown"): n for code, n in screened_out_by.items()},
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
    counts = flag_counts(survey)
    return {name: counts[name] for name in (*FLAGS, "excluded")}


def _every_day(counts: dict[date, int]) -> tuple[tuple[date, int], ...]:
    """Completions per UTC day from the first to the last, days without any included as 0."""
    if not counts:
        return ()
    first, last = min(counts), max(counts)
    return tuple((first + timedelta(days=offset), counts.get(first + timedelta(days=offset), 0)) for offset in range((last - first).days + 1))


# --------------------------------------------------------------------------- unweighted answers


def answer_counts(survey: Survey, codes: Sequence[str]) -> dict[str, Counter]:
    """Complete responses per answer code of each question in ``codes``, counted in SQL.

    A multiple-choice answer (a list of codes) counts once for each code chosen. The JSON
    value is grouped as text, which both SQLite and PostgreSQL can compare.
    """
    value = sa.cast(Answer.value, sa.Text)
    rows = db.session.execute(
        sa.select(Answer.question_code, value, sa.func.count())
        .join(Response, Response.id == Answer.response_id)
        .where(Response.survey_id == survey.id, Response.status == ResponseStatus.COMPLETE.value,
               Answer.question_code.in_(list(codes)))
        .group_by(Answer.question_code, value)
    ).all()
    counts: dict[str, Counter] = {code: Counter() for code in codes}
    for code, text, n in rows:
        answer = json.loads(text)
        for chosen in answer if isinstance(answer, list) else [answer]:
            counts[code][str(chosen)] += n
    return counts


@dataclass(frozen=True)
class Share:
    """One answer's unweighted count among the complete responses, and its target when weighted to one."""

    code: str
    label: str
    count: int
    share: float | None
    target: float | None = None

    @property
    def gap(self) -> float | None:
        """Unweighted share minus target: positive means more of them than the population has."""
        return None if self.share is None or self.target is None else self.share - self.target


@dataclass(frozen=True)
class Frequency:
    """The unweighted answers to one closed question of the complete responses."""

    code: str
    text: str
    answered: int
    shares: tuple[Share, ...]
    variable: str | None = None  # the weighting variable it measures, for the composition table
    source: str | None = None


def closed_questions(survey: Survey) -> list[Question]:
    """The questions with options: the ones ``frequencies`` tabulates."""
    return [q for q in questionnaire_of(survey).questions if q.options]


def frequencies(
    survey: Survey, targets: Targets | None = None, *, counts: Mapping[str, Counter] | None = None
) -> list[Frequency]:
    """Unweighted frequencies of every closed question; with ``targets``, only the questions that
    measure a targeted weighting variable, each answer beside its target share (a level of the
    targets that is not an answer of the question is listed with a count of 0).

    ``counts``: ``answer_counts`` of (at least) these questions, when the caller already has
    them: the fieldwork page shows two tables from one count of every answer.
    """
    questions = closed_questions(survey)
    if targets is not None:
        questions = [q for q in questions if q.weighting_variable in targets.margins]
    if counts is None:
        counts = answer_counts(survey, [q.code for q in questions])
    table = []
    for question in questions:
        margins = targets.margins[question.weighting_variable] if targets is not None else {}
        labels = {option.code: option.label.get("en", option.code) for option in question.options}
        codes = list(labels) + [level for level in margins if level not in labels]
        answered = sum(counts[question.code].values())
        multiple = question.type == "multiple"
        denominator = _respondents(survey, question.code) if multiple else answered
        shares = tuple(
            Share(code, labels.get(code, code), counts[question.code][code],
                  counts[question.code][code] / denominator if denominator else None, margins.get(code))
            for code in codes
        )
        table.append(Frequency(question.code, question.text.get("en", question.code), denominator, shares,
                               question.weighting_variable if targets is not None else None,
                               targets.sources.get(question.weighting_variable) if targets is not None else None))
    return table


def _respondents(survey: Survey, code: str) -> int:
    """Complete responses that answered question ``code`` (the base of a multiple-choice share)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Answer).join(Response, Response.id == Answer.response_id)
        .where(Response.survey_id == survey.id, Response.status == ResponseStatus.COMPLETE.value,
               Answer.question_code == code)
    ) or 0
