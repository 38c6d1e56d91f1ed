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

    Each rule gives the ids it flags; they are stacked (UNION ALL) under a row for every
    complete response and grouped by id, so a response with several flags counts once in
    ``excluded``. Grouping instead of joining the rules' results keeps the plans linear
    even while the planner's statistics lag behind a freshly loaded poll (PostgreSQL then
    expects one row and would rescan a joined subquery for every response).
    """
    rules = rules or ExclusionRules()
    questions = questions_of(survey)
    complete = sa.and_(Response.survey_id == survey.id, Response.status == ResponseStatus.COMPLETE.value)
    codes = {q.code for q in questions}
    numeric = {q.code for q in questions if q.numeric}
    cells = _cells(complete, codes, numeric)
    columns = {q.code for q in questions if not q.multiple}  # the codes that are one column of the frame
    batteries = {name: [code for code in items if code in columns] for name, items in grids(questions).items()}
    checks = {code: accepted for code, accepted in attention_checks(survey).items() if code in columns}
    marked = [Response.simulated.is_(True)] if rules.exclude_simulated else []
    if rules.extra_excluded_ids:
        marked.append(Response.id.in_(list(rules.extra_excluded_ids)))
    marks = sa.case((sa.or_(sa.false(), *marked), 1), else_=0).label("marked")  # excluded whatever their flags
    stacked = [sa.select(Response.id, *_marks(), marks).where(complete)]
    for flag, ids in (("speeder", _speeders(complete, rules.speeder_share)),
                      ("straightliner", _straightliners(cells, batteries, rules.straightline_min_items)),
                      ("attention_failed", _passed_attention(cells, checks)),
                      ("duplicate", _duplicates(complete, codes, numeric, rules.duplicate_window_minutes) if codes else None)):
        if ids is not None:
            stacked.append(sa.select(ids.c.id, *_marks(flag), sa.literal_column("0").label("marked")))
    rows = sa.union_all(*stacked).subquery("stacked")
    per_response = sa.select(
        rows.c.id, *(sa.func.sum(rows.c[flag]).label(flag) for flag in FLAGS), sa.func.max(rows.c.marked).label("marked"),
    ).group_by(rows.c.id).subquery("per_response")
    flagged = {flag: per_response.c[flag] > 0 for flag in FLAGS}
    # a check answered as accepted counts as a pass; fewer passes than checks is a failure
    flagged["attention_failed"] = per_response.c.attention_failed < len(checks)
    excluded = sa.or_(per_response.c.marked > 0, *(flagged[flag] for flag in rules.exclude))
    row = db.session.execute(sa.select(
        *(sa.func.count().filter(flagged[flag]).label(flag) for flag in FLAGS),
        sa.func.count().filter(excluded).label("excluded"),
        sa.func.count().label("complete"),
    )).one()
    counts = dict(row._mapping)
    counts["included"] = counts["complete"] - counts["excluded"]
    return counts


def _marks(flag: str | None = None) -> list[sa.ColumnElement[int]]:
    """The flag columns of one stacked row: 1 under ``flag``, 0 under the others."""
    return [sa.literal_column("1" if name == flag else "0").label(name) for name in FLAGS]


def _cells(complete: sa.ColumnElement[bool], codes: Collection[str], numeric: Collection[str]) -> sa.Subquery:
    """(response id, question code, text) of each answered question of the frame."""
    return (sa.select(Answer.response_id.label("id"), Answer.question_code.label("code"), _cell_text(numeric).label("text"))
            .join(Response, Response.id == Answer.response_id).where(complete, _kept(codes)).subquery("cells"))


def _cell_text(numeric: Collection[str]) -> sa.ColumnElement[str]:
    """An answer's JSON text, equal for two answers exactly when their frame cells are (a whole
    number of a numeric question becomes a float there, so 2 reads as 2.0)."""
    text = sa.cast(Answer.value, sa.Text)
    whole = sa.and_(Answer.question_code.in_(list(numeric)), text.not_like("%.%"), text.not_like("%e%"), text.not_like("%E%"))
    return sa.case((whole, text + ".0"), else_=text)


def _kept(codes: Collection[str]) -> sa.ColumnElement[bool]:
    """An answer that fills the frame: a question of ``codes``, a value that is not JSON null."""
    return sa.and_(Answer.question_code.in_(list(codes)), sa.cast(Answer.value, sa.Text) != "null")


def _speeders(complete: sa.ColumnElement[bool], share: float) -> sa.Subquery | None:
    """``quality.speeders`` of ``load_responses``' durations: the time on the pages, else start to completion."""
    page_seconds = (sa.select(PageVisit.response_id, sa.func.sum(PageVisit.seconds).label("seconds"))
                    .group_by(PageVisit.response_id).subquery())
    wall = sa.cast((_microseconds(Response.completed_at) - _microseconds(Response.started_at)) / 1e6, sa.Float)
    durations = (sa.select(Response.id, sa.func.coalesce(page_seconds.c.seconds, wall).label("seconds"))
                 .outerjoin(page_seconds, page_seconds.c.response_id == Response.id).where(complete)
                 .subquery("durations"))
    known = sa.select(durations.c.seconds, sa.func.count().over().label("n"),
                      sa.func.row_number().over(order_by=durations.c.seconds).label("k")).where(
        durations.c.seconds.is_not(None)).subquery()
    # the middle one of an odd count, the middle two of an even one
    middle = db.session.scalars(sa.select(known.c.seconds).where(2 * known.c.k >= known.c.n, 2 * known.c.k <= known.c.n + 2)
                                .order_by(known.c.k)).all()
    if not middle:
        return None
    median = (middle[0] + middle[-1]) / 2  # numpy's median of an even count: the mean of the middle two
    return sa.select(durations.c.id).where(durations.c.seconds < share * median).subquery("speeders")


def _straightliners(cells: sa.Subquery, grids: Mapping[str, Sequence[str]], min_items: int) -> sa.Subquery | None:
    """``quality.straightliners``: every item of a grid of at least ``min_items`` answered, all alike."""
    grids = {name: items for name, items in grids.items() if len(items) >= min_items}
    if not grids:
        return None
    grid = sa.case({code: index for index, items in enumerate(grids.values()) for code in items}, value=cells.c.code)
    size = sa.case({code: len(items) for items in grids.values() for code in items}, value=cells.c.code)
    return (sa.select(cells.c.id).where(cells.c.code.in_([code for items in grids.values() for code in items]))
            .group_by(cells.c.id, grid)
            .having(sa.func.count() == sa.func.max(size), sa.func.count(sa.distinct(cells.c.text)) == 1)
            .subquery("straightliners"))


def _passed_attention(cells: sa.Subquery, checks: Mapping[str, Collection[str]]) -> sa.Subquery | None:
    """For ``quality.failed_attention``: one row per attention check answered with an accepted
    answer (a check unanswered, or answered otherwise, has none)."""
    if not checks:
        return None
    return sa.select(cells.c.id).where(sa.or_(*(
        sa.and_(cells.c.code == code, cells.c.text.in_([_json_text(answer) for answer in accepted]))
        for code, accepted in checks.items()))).subquery("passes")


def _duplicates(complete: sa.ColumnElement[bool], codes: Collection[str], numeric: Collection[str],
                window_minutes: float) -> sa.Subquery:
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
    item = Answer.question_code + _ITEM + _cell_text(numeric)
    patterns = sa.select(
        candidates,
        _concatenated(item).over(partition_by=candidates.c.id, order_by=Answer.question_code, rows=(None, None)).label("pattern"),
        sa.func.row_number().over(partition_by=candidates.c.id, order_by=Answer.question_code).label("n"),
    ).join(Answer, Answer.response_id == candidates.c.id).where(_kept(codes)).subquery()
    answered = sa.select(patterns.c.id, patterns.c.agent, patterns.c.at, patterns.c.pattern).where(patterns.c.n == 1)
    unanswered = sa.select(candidates, sa.literal_column("''")).where(
        ~sa.exists().where(Answer.response_id == candidates.c.id, _kept(codes)))
    every = sa.union_all(answered, unanswered).subquery()
    gaps = sa.select(every.c.id, (every.c.at - sa.func.lag(every.c.at).over(
        partition_by=(every.c.agent, every.c.pattern), order_by=(every.c.at, every.c.id))).label("gap")).subquery()
    return sa.select(gaps.c.id).where(gaps.c.gap <= window).subquery("duplicates")


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
