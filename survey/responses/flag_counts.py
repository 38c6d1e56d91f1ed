"""How many complete responses each quality flag marks, counted in the database.

The fieldwork page only needs the counts of ``survey.responses.quality``'s flags, and
reading every answer into pandas for them made the page grow with the poll. Here each rule
is restated as aggregate SQL over the answers as the respondent service stores them
(``Question.validate_answer``: a code, a list of codes in the questionnaire's order, a
number), so only counts leave the database. The pandas functions stay the rules the
analysis uses; ``tests/survey/responses/test_flag_counts.py`` checks on simulated and odd
polls that these counts equal ``load_responses(survey).flag_counts()``, on SQLite and
PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import pandas as pd
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, PageVisit, Response, ResponseStatus, Survey
from survey.responses.dataset import attention_checks, grids, questions_of
from survey.responses.quality import FLAGS, ExclusionRules

# Joins a response's answers into one text to compare: control characters that JSON text
# never holds unescaped and question codes do not contain.
_ITEM, _BETWEEN = "\x1f", "\x1e"


def flag_counts(survey: Survey, rules: ExclusionRules | None = None) -> dict[str, int]:
    """The counts of ``ResponseData.flag_counts`` (per flag, excluded, complete, included), in SQL.

    A response can carry several flags; ``excluded`` counts each excluded response once.
    """
    rules = rules or ExclusionRules()
    questions = questions_of(survey)
    complete = sa.and_(Response.survey_id == survey.id, Response.status == ResponseStatus.COMPLETE.value)
    answers = _cells(complete, {q.code for q in questions}, {q.code for q in questions if q.numeric})
    columns = {q.code for q in questions if not q.multiple}  # the codes that are one column of the frame
    batteries = {name: [code for code in items if code in columns] for name, items in grids(questions).items()}
    checks = {code: accepted for code, accepted in attention_checks(survey).items() if code in columns}
    flagged = {
        "speeder": _speeders(complete, rules.speeder_share),
        "straightliner": _straightliners(answers, batteries, rules.straightline_min_items),
        "attention_failed": _failed_attention(complete, answers, checks),
        "duplicate": _duplicates(complete, answers, rules.duplicate_window_minutes) if questions else None,
    }
    source: sa.FromClause = Response.__table__
    flag: dict[str, sa.ColumnElement[bool]] = {}
    for name in FLAGS:
        if flagged[name] is None:
            flag[name] = sa.false()
            continue
        ids = flagged[name].subquery(name)
        source = source.outerjoin(ids, ids.c.id == Response.id)
        flag[name] = ids.c.id.is_not(None)
    excluded = [flag[name] for name in rules.exclude]
    if rules.exclude_simulated:
        excluded.append(Response.simulated.is_(True))
    if rules.extra_excluded_ids:
        excluded.append(Response.id.in_(list(rules.extra_excluded_ids)))
    row = db.session.execute(sa.select(
        *(sa.func.count().filter(flag[name]).label(name) for name in FLAGS),
        sa.func.count().filter(sa.or_(sa.false(), *excluded)).label("excluded"),
        sa.func.count().label("complete"),
    ).select_from(source).where(complete)).one()
    counts = dict(row._mapping)
    counts["included"] = counts["complete"] - counts["excluded"]
    return counts


def _cells(complete: sa.ColumnElement[bool], codes: Collection[str], numeric: Collection[str]) -> sa.Subquery:
    """(response id, question code, text) of each answered question of the frame: texts are
    equal exactly when the frame's cells are (a whole number as the float it becomes there)."""
    text = sa.cast(Answer.value, sa.Text)
    whole = sa.and_(Answer.question_code.in_(list(numeric)), text.not_like("%.%"), text.not_like("%e%"), text.not_like("%E%"))
    return (
        sa.select(Answer.response_id.label("id"), Answer.question_code.label("code"),
                  sa.case((whole, text + ".0"), else_=text).label("text"))
        .join(Response, Response.id == Answer.response_id)
        .where(complete, Answer.question_code.in_(list(codes)), text != "null")
        .subquery("cells")
    )


def _speeders(complete: sa.ColumnElement[bool], share: float) -> sa.Select | None:
    """``quality.speeders`` of ``load_responses``' durations: the time on the pages, else start to completion."""
    page_seconds = (sa.select(PageVisit.response_id, sa.func.sum(PageVisit.seconds).label("seconds"))
                    .group_by(PageVisit.response_id).subquery())
    wall = sa.cast((_microseconds(Response.completed_at) - _microseconds(Response.started_at)) / 1e6, sa.Float)
    durations = (sa.select(Response.id, sa.func.coalesce(page_seconds.c.seconds, wall).label("seconds"))
                 .outerjoin(page_seconds, page_seconds.c.response_id == Response.id).where(complete).subquery())
    known = durations.c.seconds.is_not(None)
    n = db.session.scalar(sa.select(sa.func.count()).select_from(durations).where(known))
    if not n:
        return None
    middle = db.session.scalars(sa.select(durations.c.seconds).where(known).order_by(durations.c.seconds)
                                .limit(2 - n % 2).offset((n - 1) // 2)).all()
    median = (middle[0] + middle[-1]) / 2  # numpy's median of an even count: the mean of the middle two
    return sa.select(durations.c.id).where(durations.c.seconds < share * median)


def _straightliners(cells: sa.Subquery, grids: Mapping[str, Sequence[str]], min_items: int) -> sa.Select | None:
    """``quality.straightliners``: every item of a grid of at least ``min_items`` answered, all alike."""
    grids = {name: items for name, items in grids.items() if len(items) >= min_items}
    if not grids:
        return None
    grid = sa.case({code: index for index, items in enumerate(grids.values()) for code in items}, value=cells.c.code)
    size = sa.case({code: len(items) for items in grids.values() for code in items}, value=cells.c.code)
    by_grid = (sa.select(cells.c.id).where(cells.c.code.in_([code for items in grids.values() for code in items]))
               .group_by(cells.c.id, grid)
               .having(sa.func.count() == sa.func.max(size), sa.func.count(sa.distinct(cells.c.text)) == 1).subquery())
    return sa.select(by_grid.c.id).distinct()


def _failed_attention(complete: sa.ColumnElement[bool], cells: sa.Subquery,
                      checks: Mapping[str, Collection[str]]) -> sa.Select | None:
    """``quality.failed_attention``: a check unanswered or answered with something not accepted."""
    if not checks:
        return None
    passed = sa.or_(*(sa.and_(cells.c.code == code, cells.c.text.in_([_json_text(answer) for answer in accepted]))
                      for code, accepted in checks.items()))
    passes = sa.select(cells.c.id, sa.func.count().label("passes")).where(passed).group_by(cells.c.id).subquery()
    return (sa.select(Response.id).outerjoin(passes, passes.c.id == Response.id)
            .where(complete, sa.func.coalesce(passes.c.passes, 0) < len(checks)))


def _duplicates(complete: sa.ColumnElement[bool], cells: sa.Subquery, window_minutes: float) -> sa.Select:
    """``quality.duplicates``: completed within the window after the previous response of the
    same browser with the same answers (ties in time in id order, as the frame's rows)."""
    window = pd.Timedelta(minutes=window_minutes) // pd.Timedelta(microseconds=1)
    at = _microseconds(Response.completed_at)
    order = (at, Response.id)
    near = sa.select(
        Response.id, Response.user_agent_hash.label("agent"), at.label("at"),
        sa.func.lag(at).over(partition_by=Response.user_agent_hash, order_by=order).label("before"),
        sa.func.lead(at).over(partition_by=Response.user_agent_hash, order_by=order).label("after"),
    ).where(complete, Response.user_agent_hash.is_not(None)).subquery()
    # only a response with another of its browser inside the window can be or have a duplicate
    candidates = sa.select(near.c.id, near.c.agent, near.c.at).where(
        sa.or_(near.c.at - near.c.before <= window, near.c.after - near.c.at <= window)).subquery("candidates")
    answers = sa.select(cells).where(cells.c.id.in_(sa.select(candidates.c.id))).subquery()
    item = answers.c.code + _ITEM + answers.c.text
    patterns = sa.select(
        answers.c.id, _concatenated(item).over(partition_by=answers.c.id, order_by=answers.c.code, rows=(None, None)).label("pattern"),
        sa.func.row_number().over(partition_by=answers.c.id, order_by=answers.c.code).label("n"),
    ).subquery()
    pattern = sa.func.coalesce(patterns.c.pattern, "")
    gaps = sa.select(
        candidates.c.id,
        (candidates.c.at - sa.func.lag(candidates.c.at).over(partition_by=(candidates.c.agent, pattern),
                                                             order_by=(candidates.c.at, candidates.c.id))).label("gap"),
    ).outerjoin(patterns, sa.and_(patterns.c.id == candidates.c.id, patterns.c.n == 1)).subquery()
    return sa.select(gaps.c.id).where(gaps.c.gap <= window)


def _microseconds(column: sa.ColumnElement) -> sa.ColumnElement[int]:
    """A timestamp as whole microseconds since 1970, exactly (SQLite keeps UTC text with six decimals)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.extract("epoch", column) * 1_000_000, sa.BigInteger)
    return (sa.cast(sa.func.strftime("%s", column), sa.BigInteger) * 1_000_000
            + sa.cast(sa.func.substr(column, 21, 6), sa.BigInteger))


def _concatenated(text: sa.ColumnElement[str]) -> sa.FunctionElement:
    """The texts of a window joined in its order (``string_agg``; SQLite 3.40 calls it ``group_concat``)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.string_agg(text, _BETWEEN)
    return sa.func.group_concat(text, _BETWEEN)


def _json_text(value: str) -> sa.ColumnElement[str]:
    """``value`` as the text of its stored JSON (the same serializer wrote the answers)."""
    return sa.cast(sa.literal(value, sa.JSON), sa.Text)
