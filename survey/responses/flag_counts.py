"""How many complete responses each quality flag marks, counted in the database.

The fieldwork page only needs the counts of ``survey.responses.quality``'s flags. Reading
every answer into pandas for them made the page grow with the poll, and so did restating
the rules as SQL over the answers (two million rows at 100,000 completes, 5 s of database
time). Each response now keeps what the rules need of it (``survey.responses.quality_facts``,
stored when it completes), so the counts aggregate one row per response, and the rules'
parameters (speeder share, grid size, duplicate window, exclusions) are applied here. The
pandas functions stay the rules the analysis uses; ``tests/survey/responses/test_flag_counts.py``
checks on simulated and odd polls that these counts equal ``load_responses(survey).flag_counts()``,
on SQLite and PostgreSQL.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Response, ResponseStatus, Survey
from survey.questionnaires.sync import questionnaire_of
from survey.responses import quality_facts
from survey.responses.quality import FLAGS, ExclusionRules


def flag_counts(survey: Survey, rules: ExclusionRules | None = None) -> dict[str, int]:
    """The counts of ``ResponseData.flag_counts`` (per flag, excluded, complete, included), in SQL.

    Complete responses without facts for the survey's current questionnaire (completed
    before a new version was loaded, or stored by other means than the site's completion)
    get them first, and the session is committed to keep them.
    """
    rules = rules or ExclusionRules()
    complete = sa.and_(Response.survey_id == survey.id, Response.status == ResponseStatus.COMPLETE.value)
    stale = db.session.scalars(sa.select(Response.id).where(
        complete, sa.or_(Response.quality_version.is_(None), Response.quality_version != survey.source_hash))).all()
    if stale:
        quality_facts.record(db.session.connection(), survey.id, questionnaire_of(survey), survey.source_hash, stale)
        db.session.commit()
    at = _microseconds(Response.completed_at)
    window = pd.Timedelta(minutes=rules.duplicate_window_minutes) // pd.Timedelta(microseconds=1)
    # the previous response of the same browser with the same answers (ties in time in id order, as the frame's rows)
    before = sa.func.lag(at).over(partition_by=(Response.user_agent_hash, Response.answers_signature), order_by=(at, Response.id))
    median = _median_duration(complete)
    flags = {
        "speeder": Response.duration_seconds < rules.speeder_share * median if median is not None else sa.false(),
        "straightliner": Response.straightlined_items >= rules.straightline_min_items,
        "attention_failed": Response.attention_failed.is_(True),
        "duplicate": sa.and_(Response.user_agent_hash.is_not(None), at - before <= window),
    }
    marked = [Response.simulated.is_(True)] if rules.exclude_simulated else []
    if rules.extra_excluded_ids:
        marked.append(Response.id.in_(list(rules.extra_excluded_ids)))
    flagged = sa.select(*(sa.case((condition, 1), else_=0).label(flag) for flag, condition in flags.items()),
                        sa.case((sa.or_(sa.false(), *marked), 1), else_=0).label("marked")).where(complete).subquery()
    excluded = sa.or_(flagged.c.marked == 1, *(flagged.c[flag] == 1 for flag in rules.exclude))
    row = db.session.execute(sa.select(
        *(sa.func.count().filter(flagged.c[flag] == 1).label(flag) for flag in FLAGS),
        sa.func.count().filter(excluded).label("excluded"),
        sa.func.count().label("complete"),
    )).one()
    counts = dict(row._mapping)
    counts["included"] = counts["complete"] - counts["excluded"]
    return counts


def _median_duration(complete: sa.ColumnElement[bool]) -> float | None:
    """numpy's median of the known durations (of an even count, the mean of the middle two); None if none is known."""
    known = sa.and_(complete, Response.duration_seconds.is_not(None))
    n = db.session.scalar(sa.select(sa.func.count()).where(known))
    if not n:
        return None
    middle = db.session.scalars(sa.select(Response.duration_seconds).where(known).order_by(Response.duration_seconds)
                                .offset((n - 1) // 2).limit(2 - n % 2)).all()
    return (middle[0] + middle[-1]) / 2


def _microseconds(column: sa.ColumnElement) -> sa.ColumnElement[int]:
    """A timestamp as whole microseconds since 1970, exactly (SQLite keeps UTC text with six decimals)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.extract("epoch", column) * 1_000_000, sa.BigInteger)
    return (sa.cast(sa.func.strftime("%s", column), sa.BigInteger) * 1_000_000
            + sa.cast(sa.func.substr(column, 21, 6), sa.BigInteger))
