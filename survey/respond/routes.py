"""The respondent's way through a survey.

``/s/<slug>`` is the public link and ``/i/<token>`` a one-time invitation; both lead to a
consent page, then one page per questionnaire page. Which response a browser is answering
is kept in the signed session as its resume link, and the same link (``/r/<token>``, or
the invitation link) brings the respondent back from another browser or after a closed tab.
All storing goes through ``survey.responses.service``.
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import NoReturn, Optional

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature

from survey.extensions import db, limiter
from survey.models import Invitation, Response, ResponseStatus, Survey, SurveyStatus, utcnow
from survey.questionnaires.model import Page, Questionnaire
from survey.respond import markup
from survey.respond.forms import ConsentForm, PageForm, page_form
from survey.respond.texts import current_language, language_links, localized
from survey.responses import service, tokens
from survey.security import loggable_path, signer

bp = Blueprint("respond", __name__)
log = logging.getLogger(__name__)

SESSION_KEY = "respondent"  # {survey slug: [link kind "r" or "i", token]}
CONSENT_KEY = "consent"  # a random value that binds consent forms to the browser session that received them


def _start_limit() -> str:
    return current_app.config["RATELIMIT_START"]


def _start_limit_message() -> str:
    return gettext("Many surveys were started from your network just now. Please wait a minute and try again.")


@bp.before_app_request
def remember_language() -> None:
    """A language picked with ``?lang=`` stays picked for the rest of the visit."""
    chosen = request.args.get("lang")
    if chosen in current_app.config["LANGUAGES"] and session.get("lang") != chosen:
        session["lang"] = chosen


@bp.app_context_processor
def respondent_helpers() -> dict:
    return {"localized": localized, "language_links": language_links, "current_language": current_language}


# --- finding the survey and the respondent's response -------------------------------

def _survey_and_response(slug: str) -> tuple[service.SurveyRow, Optional[service.ResponseRow]]:
    """The survey at ``slug`` (404 unless published) and this browser's response to it, if any."""
    survey, response = service.survey_and_response(slug, _link(slug))
    return _published(survey), response


def _published(survey: Optional[Survey | service.SurveyRow]) -> Survey | service.SurveyRow:
    if survey is None or survey.status == SurveyStatus.DRAFT.value:
        abort(404, description=gettext("There is no survey at this address. Please check the link you were given."))
    return survey


def _remember(slug: str, kind: str, token: str) -> None:
    links = dict(session.get(SESSION_KEY, {}))
    links[slug] = [kind, token]
    session[SESSION_KEY] = links


def _link(slug: str) -> Optional[tuple[str, str]]:
    kind_token = session.get(SESSION_KEY, {}).get(slug)
    return tuple(kind_token) if kind_token else None


def _resume_url(survey: Survey | service.SurveyRow) -> Optional[str]:
    link = _link(survey.slug)
    if link is None:
        return None
    kind, token = link
    endpoint = "respond.invitation" if kind == "i" else "respond.resume"
    return url_for(endpoint, token=token, _external=True)


def _start_field() -> str:
    """The consent form's signed resume token, bound to this browser's session and dated.

    So the form is not a credential: posted from another browser, or after
    ``WTF_CSRF_TIME_LIMIT``, it is refused (the respondent reloads the page).
    """
    binding = session.setdefault(CONSENT_KEY, tokens.new_token())
    return signer("respond.start", timed=True).dumps([tokens.new_token(), binding])


def _started_token(field: str) -> str:
    """The resume token from a consent form this browser received lately; anything else is a 400."""
    try:
        token, binding = signer("respond.start", timed=True).loads(
            field, max_age=current_app.config["WTF_CSRF_TIME_LIMIT"])
    except (BadSignature, ValueError, TypeError):
        _refuse("consent form: start token not signed by us, or expired")
    if not binding or binding != session.get(CONSENT_KEY):
        _refuse("consent form: start token given to another browser")
    return token


def _csrf_token() -> str:
    """This session's CSRF token for a shared page's hole (none when CSRF is off, as in some tests)."""
    return generate_csrf() if current_app.config.get("WTF_CSRF_ENABLED", True) else ""


def _refuse(reason: str) -> NoReturn:
    """A request no respondent's browser sends (tampered or stale form): 400, nothing stored."""
    log.warning("refused %s %s: %s", request.method, loggable_path(), reason)
    abort(400, description=gettext(
        "This form could not be accepted. Please go back, reload the page and answer again; "
        "your earlier answers are saved."
    ))


# --- pages that say where things stand ----------------------------------------------

def _closed(survey: Survey | service.SurveyRow):
    return render_template("respond/closed.html", survey=survey)


def _unknown_link():
    return render_template("respond/unknown_link.html"), 404


def _continue(response: Response | service.ResponseRow):
    """Send the respondent to wherever their response stands (as of when ``response`` was read)."""
    survey = response.survey
    if response.status == ResponseStatus.COMPLETE.value:
        return redirect(url_for("respond.thanks", slug=survey.slug))
    if response.status == ResponseStatus.SCREENED_OUT.value:
        return redirect(url_for("respond.screened_out", slug=survey.slug))
    if not survey.is_open:
        return _closed(survey)
    page = service.resume_page(response)
    if page is None:  # every page saved, but the completion did not happen (a dropped connection)
        service.complete(db.session.get(Response, response.id))
        return redirect(url_for("respond.thanks", slug=survey.slug))
    return redirect(url_for("respond.page", slug=survey.slug, page_id=page.id))


@bp.route("/")
def index():
    surveys = db.session.scalars(
        sa.select(Survey).where(Survey.status == SurveyStatus.OPEN.value).order_by(Survey.opened_at, Survey.id)
    ).all()
    if len(surveys) == 1:
        chosen = request.args.get("lang")
        carried = {"lang": chosen} if chosen in current_app.config["LANGUAGES"] else {}
        return redirect(url_for("respond.landing", slug=surveys[0].slug, **carried))
    return render_template("respond/index.html", surveys=surveys)


@bp.route("/s/<slug>")
def landing(slug: str):
    survey, response = _survey_and_response(slug)
    if not survey.is_open:
        return _closed(survey)
    questionnaire = service.questionnaire_for(survey)
    return render_template(
        "respond/landing.html",
        survey=survey,
        questionnaire=questionnaire,
        response=response,
        # Counted as the pages count themselves: those shown before any answer, up to every
        # page (an answer can bring in a follow-up page).
        fewest_pages=len(_shown_pages(questionnaire, {})),
        page_count=len(questionnaire.pages),
    )


@bp.route("/s/<slug>/consent", methods=["GET", "POST"])
@limiter.limit(_start_limit, methods=["POST"], error_message=_start_limit_message)
def consent(slug: str):
    survey, response = _survey_and_response(slug)
    if not survey.is_open:
        return _closed(survey)
    if response is not None:
        return _continue(response)
    return _consent(survey)


@bp.route("/i/<token>", methods=["GET", "POST"])
@limiter.limit(_start_limit, methods=["POST"], error_message=_start_limit_message)
def invitation(token: str):
    """A one-time invitation: consent and start, or resume the response it already has."""
    invitation = service.find_invitation(token)
    if invitation is None:
        return _unknown_link()
    survey = db.session.get(Survey, invitation.survey_id)
    response = service.response_for_invitation(invitation)
    if response is not None:
        if response.status == ResponseStatus.COMPLETE.value:
            return render_template("respond/already_complete.html", survey=survey)
        _remember(survey.slug, "i", token)
        return _continue(response)
    if not survey.is_open:
        return _closed(survey)
    return _consent(survey, invitation=invitation, token=token)


def _consent(
    survey: Survey | service.SurveyRow, *, invitation: Optional[Invitation] = None, token: Optional[str] = None
):
    form = ConsentForm()
    questionnaire = service.questionnaire_for(survey)
    if not form.is_submitted():
        if invitation is not None:  # the invitation's address is in the page's language links
            form.start.data = _start_field()
            return render_template("respond/consent.html", survey=survey, questionnaire=questionnaire, form=form)

        def render() -> str:
            form.start.data = markup.SIGNED_HOLE
            return render_template("respond/consent.html", survey=survey, questionnaire=questionnaire, form=form,
                                   csrf=markup.CSRF_HOLE)

        key = ("consent", survey.id, survey.slug, survey.source_hash, current_language())
        return markup.filled(key, render, csrf=_csrf_token(), signed=_start_field())
    if form.caught_bot() or not form.validate():
        _refuse("consent form: honeypot filled or CSRF invalid")
    resume_token = _started_token(form.start.data or "")
    slug = survey.slug  # read now: an invitation's survey is an ORM object, which the commit below expires
    link = ("i", token) if invitation is not None else ("r", resume_token)
    try:
        service.insert_response(
            survey,
            language=current_language(),
            invitation=invitation,
            user_agent=request.user_agent.string,
            resume_token=resume_token,
        )
    except service.AlreadyStarted:  # a double click or a second tab got there first
        response = service.response_for_invitation(invitation) if invitation else service.find_response(resume_token)
        if response is None:
            _refuse("consent form: start token already used elsewhere")
        _remember(slug, *link)
        return _continue(response)
    _remember(slug, *link)
    # A new response has nothing saved, so it starts where the questionnaire starts (no reads
    # back of what was just stored).
    first = service.first_unfinished(questionnaire, service.Progress({}, {}))
    return redirect(url_for("respond.page", slug=slug, page_id=first.id))


@bp.route("/r/<token>")
def resume(token: str):
    """The resume link: this browser takes up the response where it stopped."""
    response = service.find_response(token)
    if response is None:
        return _unknown_link()
    if response.status == ResponseStatus.COMPLETE.value:
        return render_template("respond/already_complete.html", survey=response.survey)
    _remember(response.survey.slug, "r", token)
    return _continue(response)


# --- the questionnaire pages --------------------------------------------------------

def _visit_token(response: service.ResponseRow, page: Page) -> str:
    return signer("respond.page-visit").dumps([response.id, page.id, utcnow().isoformat()])


def _shown_at(token: str, response: service.ResponseRow, page: Page) -> datetime:
    """When this page was shown, from the signed hidden field; anything tampered is a 400."""
    try:
        response_id, page_id, shown_at = signer("respond.page-visit").loads(token or "")
        moment = datetime.fromisoformat(shown_at)
    except (BadSignature, ValueError, TypeError):
        _refuse("page form: visit field not signed by us")
    if response_id != response.id or page_id != page.id:
        _refuse("page form: visit field of another response or page")
    return moment


def _shown_pages(questionnaire: Questionnaire, answers: dict) -> list[str]:
    """The ids of the pages these answers show: what "Page 2 of 7" counts."""
    return [candidate.id for candidate in questionnaire.pages if candidate.is_shown(answers)]


def _progress(questionnaire: Questionnaire, page: Page, answers: dict) -> tuple[int, int]:
    shown = _shown_pages(questionnaire, answers)
    return shown.index(page.id) + 1, len(shown)


@bp.route("/s/<slug>/p/<page_id>", methods=["GET", "POST"])
def page(slug: str, page_id: str):
    # A submit locks the response first: its status and progress hold until the save commits.
    survey, response, saved = service.survey_response_and_progress(slug, _link(slug), lock=request.method == "POST")
    survey = _published(survey)
    if response is None:
        if request.method == "POST":
            _refuse("page posted without a response in the session")
        return redirect(url_for("respond.landing", slug=slug))
    if response.status != ResponseStatus.IN_PROGRESS.value or not survey.is_open:
        return _continue(response)
    questionnaire = service.questionnaire_for(survey)
    try:
        page = questionnaire.pages[questionnaire.page_index(page_id)]
    except KeyError:
        if request.method == "POST":
            _refuse("page posted that the questionnaire does not have")
        abort(404)
    answers = saved.answers
    if not service.may_open_page(response, page.id, saved):
        if request.method == "POST":
            _refuse("page posted that the respondent has not reached")
        return _continue(response)

    questions = service.shown_questions(page, answers)
    if request.method == "GET" and not any(question.code in answers for question in questions):
        return _unanswered_page(survey, response, questionnaire, page, questions, saved)
    form = page_form(
        questions,
        version=survey.source_hash,
        language=current_language(),
        option_orders=response.option_orders or {},
        answers=answers if request.method == "GET" else None,
    )
    if request.method == "POST":
        result = _submit(slug, response, page, form, saved)
        if result is not None:
            return result
    else:
        form.visit.data = _visit_token(response, page)
    place = _place(survey, questionnaire, page, response, saved)
    return _render_page(survey, questionnaire, page, form, place, _resume_url(survey))


def _unanswered_page(
    survey: service.SurveyRow, response: service.ResponseRow, questionnaire: Questionnaire, page: Page, questions: list,
    saved: service.Progress,
) -> str:
    """A page with nothing saved on it yet, the usual view: its markup is shared between respondents
    (``markup``), and only this respondent's CSRF token, visit field and resume link are filled in."""
    language = current_language()
    orders = response.option_orders or {}
    place = _place(survey, questionnaire, page, response, saved)
    resume_url = _resume_url(survey)
    key = (survey.id, survey.slug, survey.source_hash, page.id, language, tuple(q.code for q in questions),
           tuple(tuple(orders.get(q.code) or ()) for q in questions), *place.values(), resume_url is not None)

    def render() -> str:
        form = page_form(questions, version=survey.source_hash, language=language, option_orders=orders)
        form.visit.data = markup.SIGNED_HOLE
        return _render_page(
            survey, questionnaire, page, form, place, markup.RESUME_HOLE if resume_url else None, csrf=markup.CSRF_HOLE
        )

    return markup.filled(key, render, csrf=_csrf_token(), signed=_visit_token(response, page), resume=resume_url)


def _place(
    survey: service.SurveyRow, questionnaire: Questionnaire, page: Page, response: service.ResponseRow,
    saved: service.Progress,
) -> dict:
    """Where ``page`` stands in this respondent's way through the survey, as the page shows it."""
    previous = service.previous_page(response, page.id, saved)
    number, total = _progress(questionnaire, page, saved.answers)
    return {
        "number": number,
        "total": total,
        "is_last": questionnaire.next_page_id(page.id, saved.answers) is None,
        "back_url": url_for("respond.page", slug=survey.slug, page_id=previous.id) if previous else None,
    }


def _render_page(
    survey: service.SurveyRow, questionnaire: Questionnaire, page: Page, form: PageForm, place: dict,
    resume_url: Optional[str], *, csrf: Optional[str] = None,
) -> str:
    """The page; ``csrf`` is the token to write in its form (by default a fresh one)."""
    return render_template(
        "respond/page.html", survey=survey, questionnaire=questionnaire, page=page, form=form, resume_url=resume_url,
        csrf=csrf, **place,
    )


def _submit(slug: str, response: service.ResponseRow, page: Page, form: PageForm, saved: service.Progress):
    """Save a submitted page; None means "show the page again with its errors"."""
    if form.caught_bot():
        _refuse("page form: honeypot filled")
    shown_at = _shown_at(form.visit.data, response, page)
    if form.tampered_values():
        _refuse("page form: tampered choice values")
    if not form.validate():
        return None
    try:
        next_page = service.save_page(
            response, page.id, form.answers(), shown_at=shown_at, language=current_language(), saved=saved,
            complete_when_done=True,
        )
    except service.InvalidAnswer:
        _refuse("page form: answer refused by the questionnaire")
    if next_page is not None:
        return redirect(url_for("respond.page", slug=slug, page_id=next_page))
    # completed by this save (or screened out): the end page
    return _continue(dataclasses.replace(response, status=service.stored_status(response)))


# --- the end ------------------------------------------------------------------------

def _finished_response(slug: str, status: ResponseStatus):
    """This browser's response to ``slug`` when it ended with ``status``, else None."""
    survey, response = _survey_and_response(slug)
    if response is None or response.status != status.value:
        return survey, None
    return survey, response


@bp.route("/s/<slug>/thanks")
def thanks(slug: str):
    survey, response = _finished_response(slug, ResponseStatus.COMPLETE)
    if response is None:
        return redirect(url_for("respond.landing", slug=slug))
    questionnaire = service.questionnaire_for(survey)
    return render_template("respond/thanks.html", survey=survey, questionnaire=questionnaire)


@bp.route("/s/<slug>/ended")
def screened_out(slug: str):
    survey, response = _finished_response(slug, ResponseStatus.SCREENED_OUT)
    if response is None:
        return redirect(url_for("respond.landing", slug=slug))
    questionnaire = service.questionnaire_for(survey)
    screener = questionnaire.question(response.screened_out_by).screener
    return render_template("respond/screened_out.html", survey=survey, message=localized(screener.message))
