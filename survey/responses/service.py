"""The one code path that stores a respondent's answers.

The site's routes and the ``simulate`` command both go through these functions, so a
simulated respondent is validated, branched, screened, timed and completed exactly like a
real one. Every function that changes data commits, so a dropped connection loses at most
the page in hand.

Completion happens once, enforced by the database: ``complete`` is a conditional UPDATE
(``... WHERE status = 'in_progress'``) and the ``completed_when_complete`` CHECK keeps
``status`` and ``completed_at`` in step; an invitation has at most one response (unique
``invitation_id``).
"""
from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa

from survey.database import autocommit_row, rows
from survey.extensions import db
from survey.models import (
    Answer,
    Invitation,
    PageVisit,
    Response,
    ResponseStatus,
    Survey,
    SurveyStatus,
    as_utc,
    utcnow,
)
from survey.questionnaires.model import Page, Question, Questionnaire
from survey.questionnaires.sync import questionnaire_of
from survey.responses import quality_facts
from survey.responses.tokens import new_token, paradata_hash, token_hash

log = logging.getLogger(__name__)

IN_PROGRESS = ResponseStatus.IN_PROGRESS.value


class InvalidAnswer(ValueError):
    """A posted answer that the questionnaire does not allow (unknown code, wrong page, ...)."""


class ResponseClosed(Exception):
    """The response is complete or screened out; nothing more can be saved."""


class AlreadyStarted(Exception):
    """Another request already started this response (the same invitation, or the same consent form)."""


class ResponseIncomplete(ValueError):
    """``complete`` was asked for while a shown page still needs answers."""


# --- looking things up ---------------------------------------------------------------

def questionnaire_for(survey: Survey | SurveyRow) -> Questionnaire:
    """The survey's questionnaire (parsed once per version of its file by ``questionnaire_of``)."""
    return questionnaire_of(survey)


def find_response(resume_token: str) -> Optional[Response]:
    """The response a resume link belongs to, or None for an unknown token."""
    if not resume_token:
        return None
    return db.session.scalar(sa.select(Response).where(Response.resume_token_hash == token_hash(resume_token)))


def find_invitation(token: str) -> Optional[Invitation]:
    """The invitation a one-time link belongs to, or None for an unknown token."""
    if not token:
        return None
    return db.session.scalar(sa.select(Invitation).where(Invitation.token_hash == token_hash(token)))


def response_for_invitation(invitation: Invitation) -> Optional[Response]:
    return db.session.scalar(sa.select(Response).where(Response.invitation_id == invitation.id))


_responses, _answers, _visits = Response.__table__, Answer.__table__, PageVisit.__table__
_RESPONSE_ROW = ("status", "option_orders", "screened_out_by")  # what a respondent's page reads of a response
# Table columns, not ORM attributes: a statement that names an ORM attribute runs through the
# ORM's execution path, which the page state's plain rows need not pay for.
_invitations = Invitation.__table__
_BELONGS = {
    "r": _responses.c.resume_token_hash == sa.bindparam("token_hash"),
    "i": _responses.c.invitation_id
    == sa.select(_invitations.c.id).where(_invitations.c.token_hash == sa.bindparam("token_hash")).scalar_subquery(),
}


@dataclass(frozen=True)
class SurveyRow:
    """The survey as a respondent's page uses it: a plain row, not an ORM object.

    A page view or submit reads the survey and the response on every request, and loading
    ORM objects cost more worker CPU than the query itself (docs/performance.md).
    """

    id: int
    slug: str
    title: dict[str, str]
    source_hash: str
    status: str

    @property
    def is_open(self) -> bool:
        return self.status == SurveyStatus.OPEN.value

    @property
    def definition(self) -> dict[str, Any]:
        """The questionnaire document, read only when its parsed form is not cached (``questionnaire_of``)."""
        return db.session.scalar(sa.select(Survey.definition).where(Survey.id == self.id))


@dataclass(frozen=True)
class ResponseRow:
    """The response as a respondent's page uses it (``SurveyRow``); its status is the one read with it."""

    id: int
    survey: SurveyRow
    status: str
    option_orders: Optional[dict[str, list[str]]]
    screened_out_by: Optional[str]


def survey_and_response(
    slug: str, link: Optional[tuple[str, str]], *, lock: bool = False
) -> tuple[Optional[SurveyRow], Optional[ResponseRow]]:
    """The survey at ``slug`` and the response of a browser's link to it, in one query, as rows.

    ``link`` is ``("r", resume token)`` or ``("i", invitation token)``; a token of another
    survey finds no response. ``lock`` reads in the session's transaction and locks the
    response's row for it, as ``lock`` does, in the same round trip; without it, the one
    statement is read outside a transaction (``survey.database.autocommit_row``).
    """
    kind, params = _state_parameters(slug, link)
    if not lock:
        return _state_rows(autocommit_row(_PAGE_STATE[kind, "read"], params), kind)
    found = rows(db.session.connection(), _PAGE_STATE[kind, "locked"], params)
    return _state_rows(found[0] if found else None, kind)


def survey_response_and_progress(
    slug: str, link: Optional[tuple[str, str]], *, lock: bool = False
) -> tuple[Optional[SurveyRow], Optional[ResponseRow], Optional[Progress]]:
    """``survey_and_response`` and the response's progress (None without a response).

    - A page view (no ``lock``) on PostgreSQL: one statement, the progress aggregated as JSON,
      read in autocommit (``survey.database.autocommit_row``): one round trip, with no BEGIN and
      no ROLLBACK (one statement sees one snapshot, so the three agree).
    - A submit (``lock``): in the session's transaction, the response's row locked, and the
      progress read after the lock, so what the save decides from it holds until it commits.
      A response that is no longer in progress gets no progress.
    """
    if not lock and link is not None and db.engine.dialect.name == "postgresql":
        kind, params = _state_parameters(slug, link)
        row = autocommit_row(_PAGE_STATE[kind, "saved"], params)
        survey, response = _state_rows(row, kind)
        return survey, response, _progress_of_json(*row[9:]) if response is not None else None
    survey, response = survey_and_response(slug, link, lock=lock)
    if response is None or (lock and response.status != IN_PROGRESS):
        return survey, response, None
    return survey, response, progress(response)


def _state_parameters(slug: str, link: Optional[tuple[str, str]]) -> tuple[Optional[str], dict[str, Any]]:
    """The kind of link ("r", "i", or None without one) and the parameters of ``_PAGE_STATE``'s statements."""
    if link is None:
        return None, {"slug": slug}
    return ("i" if link[0] == "i" else "r"), {"slug": slug, "token_hash": token_hash(link[1])}


def _state_rows(row: Optional[tuple], kind: Optional[str]) -> tuple[Optional[SurveyRow], Optional[ResponseRow]]:
    if row is None:
        return None, None
    survey = SurveyRow(*row[:5])
    if kind is None or row[5] is None:
        return survey, None
    return survey, ResponseRow(row[5], survey, *row[6:9])


_STATUS = sa.select(_responses.c.status).where(_responses.c.id == sa.bindparam("response_id"))


def stored_status(response: Response | ResponseRow) -> Optional[str]:
    """The response's status as stored now (None once it is gone), read outside a transaction."""
    row = autocommit_row(_STATUS, {"response_id": response.id})
    return row[0] if row is not None else None


def _progress_of_json(answers: Optional[list], visits: Optional[list]) -> Progress:
    shown: dict[str, list[datetime]] = {}
    for page_id, shown_at in visits or ():
        shown.setdefault(page_id, []).append(datetime.fromisoformat(shown_at))
    return Progress(dict(answers or ()), shown)


def _page_state(belongs: Optional[sa.ColumnElement[bool]], how: str) -> sa.Select:
    """The statement of ``survey_response_and_progress``: "read", "locked", or "saved" (with the progress as JSON)."""
    surveys = Survey.__table__
    survey_columns = [surveys.c[name] for name in ("id", "slug", "title", "source_hash", "status")]
    if belongs is None:
        return sa.select(*survey_columns).where(surveys.c.slug == sa.bindparam("slug"))
    found = sa.select(*(_responses.c[name] for name in ("id", "survey_id", *_RESPONSE_ROW))).where(belongs)
    if how == "locked":  # in a sub-select: FOR UPDATE may not reach the nullable side of an outer join
        found = found.with_for_update()
    response = found.subquery("response")
    statement = (
        sa.select(*survey_columns, *(response.c[name] for name in ("id", *_RESPONSE_ROW)))
        .select_from(surveys.outerjoin(response, response.c.survey_id == surveys.c.id))
        .where(surveys.c.slug == sa.bindparam("slug"))
    )
    if how == "saved":
        statement = statement.add_columns(*(
            sa.select(sa.func.json_agg(sa.func.json_build_array(*pair), type_=sa.JSON))
            .where(table.c.response_id == response.c.id)
            .scalar_subquery()
            for table, pair in ((_answers, (_answers.c.question_code, _answers.c.value)),
                                (_visits, (_visits.c.page, _visits.c.shown_at)))
        ))
    return statement


_PAGE_STATE = {
    (kind, how): _page_state(belongs, how)
    for kind, belongs in (*_BELONGS.items(), (None, None)) for how in ("read", "locked", "saved")
}


@dataclass(frozen=True)
class Progress:
    """What a response has saved: answers by question code, and when each submitted page was shown.

    Read in one query (``progress``) and passed to the functions below, so a request reads
    the response's state once however many decisions it makes from it.
    """

    answers: dict[str, Any]
    visits: dict[str, list[datetime]]  # page id -> shown_at of each recorded showing

    def submitted(self, page_id: str) -> bool:
        return page_id in self.visits

    def shown_before(self, page_id: str, shown_at: datetime) -> bool:
        """Whether this showing of the page was already recorded (a double click or a retry)."""
        return any(abs((as_utc(moment) - shown_at).total_seconds()) < 1e-3 for moment in self.visits.get(page_id, ()))


_PROGRESS = sa.union_all(
    sa.select(
        sa.literal("a").label("kind"),
        _answers.c.question_code.label("key"),
        _answers.c.value,
        sa.cast(sa.null(), PageVisit.shown_at.type).label("shown_at"),
    ).where(_answers.c.response_id == sa.bindparam("response_id")),
    sa.select(
        sa.literal("v"), _visits.c.page, sa.cast(sa.null(), Answer.value.type), _visits.c.shown_at
    ).where(_visits.c.response_id == sa.bindparam("response_id")),
)


def progress(response: Response) -> Progress:
    """The response's saved answers and page visits, read fresh from the database."""
    answers: dict[str, Any] = {}
    visits: dict[str, list[datetime]] = {}
    for kind, key, value, shown_at in rows(db.session.connection(), _PROGRESS, {"response_id": response.id}):
        if kind == "a":
            answers[key] = value
        else:
            visits.setdefault(key, []).append(shown_at)
    return Progress(answers, visits)


def shown_questions(page: Page, answers: Mapping[str, Any]) -> list[Question]:
    """The questions of ``page`` that the answers so far lead to."""
    return [question for question in page.questions if question.is_shown(answers)]


def _missing_required(page: Page, answers: Mapping[str, Any]) -> list[str]:
    return [q.code for q in shown_questions(page, answers) if q.required and answers.get(q.code) in (None, "", [])]


def first_unfinished(questionnaire: Questionnaire, saved: Progress) -> Optional[Page]:
    """The first page still to answer given ``saved``, or None when every shown page is done.

    A page is done once it has been submitted and none of its shown required questions is
    unanswered; a page whose questions are all hidden by earlier answers is skipped.
    """
    for page in questionnaire.pages:
        if not page.is_shown(saved.answers):
            continue
        if not saved.submitted(page.id) or _missing_required(page, saved.answers):
            return page
    return None


def resume_page(response: Response, saved: Optional[Progress] = None) -> Optional[Page]:
    """The first page the respondent still has to answer (``first_unfinished``), or None.

    ``saved`` is the response's progress when the caller has just read it (one query fewer).
    """
    return first_unfinished(questionnaire_for(response.survey), progress(response) if saved is None else saved)


def _may_open(questionnaire: Questionnaire, page_id: str, saved: Progress) -> bool:
    try:
        index = questionnaire.page_index(page_id)
    except (KeyError, ValueError):
        return False
    if not questionnaire.pages[index].is_shown(saved.answers):
        return False
    target = first_unfinished(questionnaire, saved)
    return target is None or index <= questionnaire.page_index(target.id)


def may_open_page(response: Response, page_id: str, saved: Optional[Progress] = None) -> bool:
    """Whether the respondent has reached ``page_id``: it is shown and not beyond the first unfinished page."""
    return _may_open(questionnaire_for(response.survey), page_id, progress(response) if saved is None else saved)


def previous_page(response: Response, page_id: str, saved: Optional[Progress] = None) -> Optional[Page]:
    """The shown page before ``page_id``, for the Back link."""
    questionnaire = questionnaire_for(response.survey)
    answers = (progress(response) if saved is None else saved).answers
    for page in reversed(questionnaire.pages[: questionnaire.page_index(page_id)]):
        if page.is_shown(answers):
            return page
    return None


# --- changing things -----------------------------------------------------------------

def new_response_row(
    questionnaire: Questionnaire,
    token: str,
    *,
    language: str,
    user_agent: Optional[str] = None,
    simulated: bool = False,
    rng: Optional[random.Random] = None,
) -> dict[str, Any]:
    """The columns of a new response (``start_response``'s, and the bulk path's in ``simulate``).

    Option orders for randomized questions are drawn here, once per respondent, and kept.
    """
    rng = rng or random.SystemRandom()
    now = utcnow()
    return {
        "resume_token_hash": token_hash(token),
        "status": IN_PROGRESS,
        "language": language,
        "current_page": 0,
        "option_orders": {q.code: list(q.option_order(rng)) for q in questionnaire.questions if q.randomize},
        "user_agent_hash": paradata_hash(user_agent),
        "simulated": simulated,
        "started_at": now,
        "updated_at": now,
    }


def insert_response(
    survey: Survey | SurveyRow,
    *,
    language: str,
    invitation: Optional[Invitation] = None,
    user_agent: Optional[str] = None,
    simulated: bool = False,
    rng: Optional[random.Random] = None,
    resume_token: Optional[str] = None,
) -> tuple[int, str]:
    """Begin a response and return its id and its resume token (shown once, stored only as a hash).

    Option orders for randomized questions are drawn here, once per respondent, and kept,
    so the order shown can be analysed and Back/resume show the same order. ``rng`` lets
    ``simulate`` draw reproducibly; real respondents get the system's randomness.
    ``resume_token`` (a ``new_token()`` issued with the consent form) makes starting
    idempotent: a second start with the same token raises ``AlreadyStarted``, as does a
    second start on one invitation.
    """
    token = resume_token or new_token()
    values = {
        "survey_id": survey.id,
        "invitation_id": invitation.id if invitation is not None else None,
        **new_response_row(questionnaire_for(survey), token, language=language, user_agent=user_agent,
                           simulated=simulated, rng=rng),
    }
    try:
        [(response_id,)] = rows(db.session.connection(), _INSERT_RESPONSE, values)
        db.session.commit()
    except sa.exc.IntegrityError as error:
        db.session.rollback()
        if invitation is not None or resume_token is not None:
            raise AlreadyStarted("this invitation or consent form already started a response") from error
        raise
    return response_id, token


def start_response(survey: Survey, **options: Any) -> tuple[Response, str]:
    """``insert_response``, with the new response as an ORM object, for code that goes on with it."""
    response_id, token = insert_response(survey, **options)
    return db.session.get(Response, response_id), token


_INSERT_RESPONSE = sa.insert(_responses).returning(_responses.c.id)
_LOCK = _STATUS.with_for_update()
_UPDATE_RESPONSE = sa.update(_responses).where(_responses.c.id == sa.bindparam("response_id"))
_INSERT_VISIT = sa.insert(_visits)
_INSERT_ANSWERS = sa.insert(_answers)


def lock(response: Response) -> Progress:
    """Lock the response's row for this transaction and read its progress.

    Saves of one response then run one after another (two tabs, a double click), and
    what a save decides from the progress stays true until it commits. Raises
    ``ResponseClosed`` once the response is complete or screened out.
    """
    found = rows(db.session.connection(), _LOCK, {"response_id": response.id})
    status = found[0][0] if found else None
    if status != IN_PROGRESS:
        db.session.rollback()
        raise ResponseClosed(f"response {response.id} is {status or 'gone'}")
    return progress(response)


def _validated(page: Page, shown: Iterable[Question], answers: Mapping[str, Any]) -> dict[str, Any]:
    """The page's answers checked against the questionnaire; raises InvalidAnswer naming the question."""
    on_page = {q.code for q in page.questions}
    stray = sorted(set(answers) - on_page)
    if stray:
        raise InvalidAnswer(f"page {page.id!r} has no question(s) {', '.join(stray)}")
    cleaned: dict[str, Any] = {}
    for question in shown:
        try:
            value = question.validate_answer(answers.get(question.code))
        except ValueError as error:
            raise InvalidAnswer(str(error)) from error
        if value is not None:
            cleaned[question.code] = value
    return cleaned


def _hidden_codes(questionnaire: Questionnaire, answers: dict[str, Any]) -> list[str]:
    """Answered questions that the other answers now hide (repeated until nothing more changes)."""
    removed: list[str] = []
    changed = True
    while changed:
        changed = False
        for question in questionnaire.questions:
            if question.code in answers and not question.is_shown(answers):
                del answers[question.code]
                removed.append(question.code)
                changed = True
    return removed


@dataclass(frozen=True)
class PageSave:
    """What storing one submitted page changes, decided from the response's progress alone.

    ``plan_save`` decides it; ``save_page`` writes it under the response's lock and the bulk
    path of ``simulate`` writes many at once, so both store by the same rules.
    """

    answers: dict[str, Any]  # every answer of the response after this page
    visit: Optional[dict[str, Any]]  # the page_visits row (without response_id), None for a repeat showing
    changes: dict[str, Any]  # columns of the response to update
    next_page_id: Optional[str]  # None: screened out, or nothing left to answer

    def progress(self, before: Progress) -> Progress:
        """The response's progress once this save is stored."""
        visits = before.visits
        if self.visit is not None:
            visits = {**visits, self.visit["page"]: [*visits.get(self.visit["page"], ()), self.visit["shown_at"]]}
        return Progress(self.answers, visits)


def plan_save(
    questionnaire: Questionnaire,
    saved: Progress,
    page_id: str,
    answers: Mapping[str, Any],
    *,
    shown_at: datetime,
    submitted_at: Optional[datetime] = None,
    language: Optional[str] = None,
    complete_when_done: bool = False,
) -> PageSave:
    """Decide what storing this page changes (the rules of ``save_page``); raises ``InvalidAnswer``.

    ``complete_when_done`` also completes the response when this page leaves nothing to
    answer (what ``complete`` would do next, decided under the same lock).
    """
    try:
        page = questionnaire.pages[questionnaire.page_index(page_id)]
    except (KeyError, ValueError) as error:
        raise InvalidAnswer(f"survey {questionnaire.slug!r} has no page {page_id!r}") from error
    if not _may_open(questionnaire, page_id, saved):
        raise InvalidAnswer(f"page {page_id!r} is not open to this response yet")

    on_page = {q.code for q in page.questions}
    earlier = {code: value for code, value in saved.answers.items() if code not in on_page}
    after = {**earlier, **_validated(page, shown_questions(page, earlier), answers)}
    _hidden_codes(questionnaire, after)

    submitted_at = as_utc(submitted_at or utcnow())
    shown_at = as_utc(shown_at)
    visit = None
    if not saved.shown_before(page.id, shown_at):
        visit = {"page": page.id, "shown_at": shown_at, "submitted_at": submitted_at,
                 "seconds": max(0.0, (submitted_at - shown_at).total_seconds())}
    changes: dict[str, Any] = {"language": language} if language else {}
    screened_by = next((q.code for q in shown_questions(page, after) if q.ends_survey(after.get(q.code))), None)
    if screened_by:
        changes.update(status=ResponseStatus.SCREENED_OUT.value, screened_out_by=screened_by)
        return PageSave(after, visit, changes, None)
    plan = PageSave(after, visit, changes, None)
    target = first_unfinished(questionnaire, plan.progress(saved))  # what this save leaves, without reading it back
    changes["current_page"] = questionnaire.page_index(target.id) if target is not None else len(questionnaire.pages)
    if complete_when_done and target is None:
        changes.update(status=ResponseStatus.COMPLETE.value, completed_at=utcnow())
    # Forward from this page; at the end, back to any page a changed answer left unfinished.
    next_page_id = questionnaire.next_page_id(page.id, after) or (target.id if target is not None else None)
    return PageSave(after, visit, changes, next_page_id)


def save_page(
    response: Response | ResponseRow,
    page_id: str,
    answers: Mapping[str, Any],
    *,
    shown_at: datetime,
    submitted_at: Optional[datetime] = None,
    language: Optional[str] = None,
    saved: Optional[Progress] = None,
    complete_when_done: bool = False,
) -> Optional[str]:
    """Store one submitted page and return the id of the page to show next (None: nothing left).

    Every value is validated by the questionnaire; answers to questions that a changed
    earlier answer now hides are removed; the visit's time on page is recorded (once per
    showing, so a double submission counts once); a failed screener ends the response as
    ``screened_out``. Raises ``InvalidAnswer`` (nothing stored) or ``ResponseClosed``.

    ``response`` is the ORM object or the site's ``ResponseRow``. ``saved`` is the progress
    the caller read under the response's lock in this transaction (``lock``, or
    ``survey_response_and_progress(..., lock=True)`` as the site does, to read the progress
    once per request). The writes are Core statements under the lock (a page is the hot path
    of a fieldwork day); the session is committed, so an ORM ``response`` reloads afterwards.
    ``complete_when_done`` completes the response in the same transaction when nothing is
    left to answer (the site's last page: no second lock, read and commit for ``complete``),
    with its quality facts.
    """
    questionnaire = questionnaire_for(response.survey)
    saved = lock(response) if saved is None else saved
    try:
        plan = plan_save(questionnaire, saved, page_id, answers, shown_at=shown_at, submitted_at=submitted_at,
                         language=language, complete_when_done=complete_when_done)
    except InvalidAnswer:
        db.session.rollback()
        raise
    completed = plan.changes.get("status") == ResponseStatus.COMPLETE.value
    if completed:  # stored by the response's own update below
        plan.changes.update(quality_facts.on_completion(
            db.session.connection(), response.id, questionnaire, response.survey.source_hash, plan.answers,
            completed_at=plan.changes["completed_at"], last_seconds=plan.visit["seconds"] if plan.visit else None,
        ))
    _store(response.id, saved.answers, plan)
    db.session.commit()
    if completed:
        log.info("response %s completed", response.id)
    return plan.next_page_id


_ANSWER_ITEMS = sa.func.json_each(sa.cast(sa.bindparam("answers", type_=sa.JSON), sa.JSON)).table_valued(
    "key", "value", name="item"
)
# PostgreSQL: the new answers (one JSON object, key: question code), the visit and the
# response's update in one statement of data-modifying CTEs: one round trip instead of three.
_NEW_ANSWERS = sa.insert(_answers).from_select(
    ["response_id", "question_code", "value", "answered_at"],
    sa.select(sa.bindparam("response_id"), _ANSWER_ITEMS.c.key, _ANSWER_ITEMS.c.value, sa.bindparam("answered_at")),
).cte("new_answers")
_NEW_VISIT = sa.insert(_visits).values(
    {column: sa.bindparam(column) for column in ("response_id", "page", "shown_at", "submitted_at", "seconds")}
).cte("new_visit")
_STORE = {
    False: _UPDATE_RESPONSE.add_cte(_NEW_ANSWERS),
    True: _UPDATE_RESPONSE.add_cte(_NEW_ANSWERS).add_cte(_NEW_VISIT),
}


def _store(response_id: int, before: Mapping[str, Any], plan: PageSave) -> None:
    """Write what ``plan_save`` decided: changed and removed answers, new answers, the visit, the response."""
    now = utcnow()
    new = _write_changed_answers(response_id, before, plan.answers, now)
    if db.engine.dialect.name == "postgresql":
        # updated_at is given: the column's onupdate is not applied to a statement with CTEs.
        values = {"response_id": response_id, "answers": new, "answered_at": now, "updated_at": now}
        rows(db.session.connection(), _STORE[plan.visit is not None], {**values, **(plan.visit or {}), **plan.changes})
        return
    if new:
        db.session.execute(_INSERT_ANSWERS, [
            {"response_id": response_id, "question_code": code, "value": value, "answered_at": now}
            for code, value in new.items()
        ])
    if plan.visit is not None:
        db.session.execute(_INSERT_VISIT, {"response_id": response_id, **plan.visit})
    db.session.execute(_UPDATE_RESPONSE, {"response_id": response_id, **plan.changes})


def _write_changed_answers(
    response_id: int, before: Mapping[str, Any], after: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Update changed answers and delete the ones that are gone; returns the new ones, to insert."""
    gone = [code for code in before if code not in after]
    if gone:
        db.session.execute(
            sa.delete(_answers).where(_answers.c.response_id == response_id, _answers.c.question_code.in_(gone))
        )
    for code, value in after.items():
        if code in before and before[code] != value:
            db.session.execute(
                sa.update(_answers)
                .where(_answers.c.response_id == response_id, _answers.c.question_code == code)
                .values(value=value, answered_at=now)
            )
    return {code: value for code, value in after.items() if code not in before}


def _record_quality_facts(response: Response) -> None:
    """Store what the quality rules need of a response that has just completed, in its transaction."""
    survey = response.survey
    quality_facts.record(db.session.connection(), survey.id, questionnaire_for(survey), survey.source_hash, [response.id])


def expire_browser_hashes(days: int) -> int:
    """Forget the browser hash (the duplicate signal) of responses started over ``days`` days ago.

    The consent page promises this; returns how many responses lost theirs. The caller commits.
    """
    started_before = utcnow() - timedelta(days=days)
    result = db.session.execute(
        sa.update(Response)
        .where(Response.started_at < started_before, Response.user_agent_hash.is_not(None))
        .values(user_agent_hash=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def complete(response: Response) -> bool:
    """Mark the response complete; True only for the one call that actually completed it.

    The conditional UPDATE makes completion atomic in the database: of any number of
    concurrent calls, exactly one matches ``status = 'in_progress'``; that call also stores
    the response's quality facts (``survey.responses.quality_facts``). Raises
    ``ResponseIncomplete`` while a shown page still needs answers.
    """
    if response.status == IN_PROGRESS and resume_page(response) is not None:
        db.session.rollback()
        raise ResponseIncomplete(f"response {response.id} still has pages to answer")
    result = db.session.execute(
        sa.update(Response)
        .where(Response.id == response.id, Response.status == IN_PROGRESS)
        .values(status=ResponseStatus.COMPLETE.value, completed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    completed = result.rowcount == 1
    if completed:
        _record_quality_facts(response)
    db.session.commit()
    db.session.refresh(response)
    if completed:
        log.info("response %s completed", response.id)
    return completed
