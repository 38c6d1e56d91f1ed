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

import hashlib
import hmac
import logging
import random
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
from flask import current_app

from survey.extensions import db
from survey.models import (
    Answer,
    Invitation,
    PageVisit,
    Response,
    ResponseStatus,
    Survey,
    utcnow,
)
from survey.questionnaire import Page, Question, Questionnaire

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


# --- tokens and hashes ---------------------------------------------------------------

def new_token() -> str:
    """A URL-safe secret for a resume or invitation link (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Only this hash of a token is stored, so a database dump opens no one's survey."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def paradata_hash(value: Optional[str]) -> Optional[str]:
    """Salted hash of a user agent or address: equal inputs match, the clear text is never kept."""
    if not value:
        return None
    salt = current_app.config["PARADATA_SALT"].encode("utf-8")
    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()


# --- looking things up ---------------------------------------------------------------

def questionnaire_for(survey: Survey) -> Questionnaire:
    """The survey's questionnaire (parsed once per version of its file by ``from_survey``)."""
    return Questionnaire.from_survey(survey)


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


def stored_answers(response: Response) -> dict[str, Any]:
    """Answers saved so far, by question code, read fresh from the database."""
    rows = db.session.execute(
        sa.select(Answer.question_code, Answer.value).where(Answer.response_id == response.id)
    )
    return {code: value for code, value in rows}


def shown_questions(page: Page, answers: Mapping[str, Any]) -> list[Question]:
    """The questions of ``page`` that the answers so far lead to."""
    return [question for question in page.questions if question.is_shown(answers)]


def _missing_required(page: Page, answers: Mapping[str, Any]) -> list[str]:
    return [q.code for q in shown_questions(page, answers) if q.required and answers.get(q.code) in (None, "", [])]


def _submitted_pages(response: Response) -> set[str]:
    return set(db.session.scalars(sa.select(PageVisit.page).where(PageVisit.response_id == response.id)))


def resume_page(response: Response, answers: Optional[Mapping[str, Any]] = None) -> Optional[Page]:
    """The first page the respondent still has to answer, or None when every shown page is done.

    A page is done once it has been submitted and none of its shown required questions is
    unanswered; a page whose questions are all hidden by earlier answers is skipped.
    ``answers`` are the stored answers when the caller has just read them (one query fewer).
    """
    questionnaire = questionnaire_for(response.survey)
    answers = stored_answers(response) if answers is None else answers
    submitted = _submitted_pages(response)
    for page in questionnaire.pages:
        if not page.is_shown(answers):
            continue
        if page.id not in submitted or _missing_required(page, answers):
            return page
    return None


def may_open_page(response: Response, page_id: str, answers: Optional[Mapping[str, Any]] = None) -> bool:
    """Whether the respondent has reached ``page_id``: it is shown and not beyond the first unfinished page."""
    questionnaire = questionnaire_for(response.survey)
    try:
        index = questionnaire.page_index(page_id)
    except (KeyError, ValueError):
        return False
    answers = stored_answers(response) if answers is None else answers
    if not questionnaire.pages[index].is_shown(answers):
        return False
    target = resume_page(response, answers)
    return target is None or index <= questionnaire.page_index(target.id)


def previous_page(response: Response, page_id: str, answers: Optional[Mapping[str, Any]] = None) -> Optional[Page]:
    """The shown page before ``page_id``, for the Back link."""
    questionnaire = questionnaire_for(response.survey)
    answers = stored_answers(response) if answers is None else answers
    for page in reversed(questionnaire.pages[: questionnaire.page_index(page_id)]):
        if page.is_shown(answers):
            return page
    return None


# --- changing things -----------------------------------------------------------------

def start_response(
    survey: Survey,
    *,
    language: str,
    invitation: Optional[Invitation] = None,
    user_agent: Optional[str] = None,
    address: Optional[str] = None,
    simulated: bool = False,
    rng: Optional[random.Random] = None,
    resume_token: Optional[str] = None,
) -> tuple[Response, str]:
    """Begin a response and return it with its resume token (shown once, stored only as a hash).

    Option orders for randomized questions are drawn here, once per respondent, and kept,
    so the order shown can be analysed and Back/resume show the same order. ``rng`` lets
    ``simulate`` draw reproducibly; real respondents get the system's randomness.
    ``resume_token`` (a ``new_token()`` issued with the consent form) makes starting
    idempotent: a second start with the same token raises ``AlreadyStarted``, as does a
    second start on one invitation.
    """
    questionnaire = questionnaire_for(survey)
    rng = rng or random.SystemRandom()
    option_orders = {q.code: list(q.option_order(rng)) for q in questionnaire.questions if q.randomize}
    token = resume_token or new_token()
    response = Response(
        survey=survey,
        invitation_id=invitation.id if invitation is not None else None,
        resume_token_hash=token_hash(token),
        status=IN_PROGRESS,
        language=language,
        current_page=0,
        option_orders=option_orders,
        user_agent_hash=paradata_hash(user_agent),
        address_hash=paradata_hash(address),
        simulated=simulated,
        started_at=utcnow(),
    )
    db.session.add(response)
    try:
        db.session.commit()
    except sa.exc.IntegrityError as error:
        db.session.rollback()
        if invitation is not None or resume_token is not None:
            raise AlreadyStarted("this invitation or consent form already started a response") from error
        raise
    return response, token


def _lock(response: Response) -> Response:
    """Re-read the response under a row lock, so concurrent saves of one response run one after another."""
    locked = db.session.scalar(
        sa.select(Response)
        .where(Response.id == response.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise ResponseClosed(f"response {response.id} no longer exists")
    return locked


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


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


def save_page(
    response: Response,
    page_id: str,
    answers: Mapping[str, Any],
    *,
    shown_at: datetime,
    submitted_at: Optional[datetime] = None,
    language: Optional[str] = None,
) -> Optional[str]:
    """Store one submitted page and return the id of the page to show next (None: nothing left).

    Every value is validated by the questionnaire; answers to questions that a changed
    earlier answer now hides are removed; the visit's time on page is recorded (once per
    showing, so a double submission counts once); a failed screener ends the response as
    ``screened_out``. Raises ``InvalidAnswer`` (nothing stored) or ``ResponseClosed``.
    """
    response = _lock(response)
    if response.status != IN_PROGRESS:
        db.session.rollback()
        raise ResponseClosed(f"response {response.id} is {response.status}")
    questionnaire = questionnaire_for(response.survey)
    try:
        index = questionnaire.page_index(page_id)
    except (KeyError, ValueError) as error:
        db.session.rollback()
        raise InvalidAnswer(f"survey {response.survey.slug!r} has no page {page_id!r}") from error
    page = questionnaire.pages[index]
    before = stored_answers(response)  # read once, under the lock
    if not may_open_page(response, page_id, before):
        db.session.rollback()
        raise InvalidAnswer(f"page {page_id!r} is not open to response {response.id} yet")

    earlier = {code: value for code, value in before.items() if code not in {q.code for q in page.questions}}
    try:
        cleaned = _validated(page, shown_questions(page, earlier), answers)
    except InvalidAnswer:
        db.session.rollback()
        raise
    after = {**earlier, **cleaned}
    _hidden_codes(questionnaire, after)
    _write_answers(response, before, after)

    submitted_at = _as_utc(submitted_at or utcnow())
    shown_at = _as_utc(shown_at)
    _record_visit(response, page.id, shown_at, submitted_at)
    if language:
        response.language = language

    screened_by = next((q.code for q in shown_questions(page, after) if q.ends_survey(after.get(q.code))), None)
    if screened_by:
        response.status = ResponseStatus.SCREENED_OUT.value
        response.screened_out_by = screened_by
        db.session.commit()
        return None

    db.session.flush()
    target = resume_page(response, after)
    response.current_page = questionnaire.page_index(target.id) if target is not None else len(questionnaire.pages)
    db.session.commit()
    # Forward from this page; at the end, back to any page a changed answer left unfinished.
    return questionnaire.next_page_id(page.id, after) or (target.id if target is not None else None)


def _write_answers(response: Response, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """Upsert changed answers and delete the ones that are gone."""
    gone = [code for code in before if code not in after]
    if gone:
        db.session.execute(
            sa.delete(Answer)
            .where(Answer.response_id == response.id, Answer.question_code.in_(gone))
            .execution_options(synchronize_session=False)
        )
    now = utcnow()
    for code, value in after.items():
        if code not in before:
            db.session.add(Answer(response_id=response.id, question_code=code, value=value, answered_at=now))
        elif before[code] != value:
            db.session.execute(
                sa.update(Answer)
                .where(Answer.response_id == response.id, Answer.question_code == code)
                .values(value=value, answered_at=now)
                .execution_options(synchronize_session=False)
            )


def _record_visit(response: Response, page_id: str, shown_at: datetime, submitted_at: datetime) -> None:
    earlier_visits = db.session.scalars(
        sa.select(PageVisit.shown_at).where(PageVisit.response_id == response.id, PageVisit.page == page_id)
    )
    if any(abs((_as_utc(moment) - shown_at).total_seconds()) < 1e-3 for moment in earlier_visits):
        return  # the same showing submitted twice (double click, retry): time it once
    seconds = max(0.0, (submitted_at - shown_at).total_seconds())
    db.session.add(
        PageVisit(response_id=response.id, page=page_id, shown_at=shown_at, submitted_at=submitted_at, seconds=seconds)
    )


def complete(response: Response) -> bool:
    """Mark the response complete; True only for the one call that actually completed it.

    The conditional UPDATE makes completion atomic in the database: of any number of
    concurrent calls, exactly one matches ``status = 'in_progress'``. Raises
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
    db.session.commit()
    db.session.refresh(response)
    completed = result.rowcount == 1
    if completed:
        log.info("response %s completed", response.id)
    return completed
