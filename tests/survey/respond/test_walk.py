"""A respondent's whole way through the default survey, as a browser would go, in English and Spanish."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, PageVisit, Response
from survey.questionnaires.sync import questionnaire_of
from survey.responses.quality_facts import FACT_COLUMNS, FactRules
from tests.support.respondents import survey_status

ANSWERS = {
    "screening": {"resident": "yes", "adult": "yes", "registered": "yes"},
    "where_you_live": {"age_group": "45-64", "region": "bay_area"},
    "calexit": {"calexit": "yes"},
    "calexit_reasons": {"calexit_reason": ["values", "taxes"]},
    "the_country": {"civil_war_5yr": "somewhat_likely", "jefferson": "not_sure"},
    "government": {"sue_federal": "strongly_approve", "trust": "3", "attention": "somewhat_disagree"},
    "demographics": {"sex": "female", "race": "hispanic", "education": "ba_plus", "party": "dem", "vote_2024": "harris"},
    "comments": {"comment": "  Gracias.  "},
}

# What each language must show: UI strings from the catalogue and texts from the questionnaire.
EXPECTED = {
    "en": {
        "title": "California and the Union",
        "start": "Start the survey",
        "length": "7 to 8 short pages of questions",  # the follow-up page comes with some answers
        "consent": "I agree, start the survey",
        "resident": "Do you currently live in California?",
        "progress": "Page 1 of 7",
        "next": "Next",
        "back": "Back",
        "resume": "Need a break?",
        "error": "Please choose an answer.",
        "finish": "Finish",
        "thanks": "Thank you for taking part.",
    },
    "es": {
        "title": "California y la Unión",
        "start": "Comenzar la encuesta",
        "length": "De 7 a 8 páginas cortas de preguntas",
        "consent": "Acepto, comenzar la encuesta",
        "resident": "¿Vive usted actualmente en California?",
        "progress": "Página 1 de 7",
        "next": "Siguiente",
        "back": "Atrás",
        "resume": "¿Necesita una pausa?",
        "error": "Por favor, elija una respuesta.",
        "finish": "Terminar",
        "thanks": "Gracias por participar.",
    },
}

BACK_LINK = re.compile(r'<a class="button button-secondary" href="([^"]+)"')


def _checked(html: str, name: str) -> set[str]:
    """Values of the checked radio buttons or boxes called ``name``."""
    inputs = re.findall(r"<input [^>]*>", html)
    return {
        re.search(r'value="([^"]*)"', tag).group(1)
        for tag in inputs
        if f'name="{name}"' in tag and re.search(r"\bchecked\b", tag)
    }


@pytest.mark.parametrize("language", ["en", "es"])
def test_whole_survey_with_branching_back_and_resume(app, open_survey, respondent, language):
    words = EXPECTED[language]
    browser = respondent(open_survey, language)

    landing = browser.open("/")
    assert browser.page_path == f"/s/{open_survey}"
    assert words["title"] in landing and words["start"] in landing and words["length"] in landing
    assert words["consent"] in browser.open(f"/s/{open_survey}/consent")

    page = browser.start()
    assert browser.page_id == "screening"
    assert words["resident"] in page and words["progress"] in page and words["next"] in page
    assert f'<html lang="{language}">' in page

    # A missing required answer shows the page again with the error tied to the question.
    response = browser.submit({"resident": "yes", "adult": "yes"})
    assert response.status_code == 200
    again = response.get_data(as_text=True)
    assert words["error"] in again
    assert 'aria-describedby="error-registered"' in again and 'id="error-registered"' in again

    for page_id in ("screening", "where_you_live", "calexit"):
        assert browser.page_id == page_id
        page = browser.answer(ANSWERS[page_id])
    assert browser.page_id == "calexit_reasons"  # shown because calexit = yes
    page = browser.answer(ANSWERS["calexit_reasons"])
    assert browser.page_id == "the_country"

    # Back keeps answers: the earlier pages come back filled in.
    page = browser.open(BACK_LINK.search(page).group(1))
    assert browser.page_id == "calexit_reasons" and words["back"] in page
    assert _checked(page, "q_calexit_reason") == {"values", "taxes"}
    page = browser.open(BACK_LINK.search(page).group(1))
    assert browser.page_id == "calexit" and _checked(page, "q_calexit") == {"yes"}

    # Changing the answer skips the reasons page, and its answer is removed.
    page = browser.answer({"calexit": "no"})
    assert browser.page_id == "the_country"
    assert BACK_LINK.search(page).group(1).endswith("/p/calexit")
    page = browser.answer(ANSWERS["the_country"])
    assert browser.page_id == "government" and words["resume"] in page
    resume_path = browser.resume_path()

    # The tab is closed; another browser opens the resume link and carries on where it stopped.
    later = respondent(open_survey, language)
    page = later.open(resume_path)
    assert later.page_id == "government"
    for page_id in ("government", "demographics"):
        assert later.page_id == page_id
        page = later.answer(ANSWERS[page_id])
    assert later.page_id == "comments" and words["finish"] in page
    thanks = later.answer(ANSWERS["comments"])
    assert later.page_path == f"/s/{open_survey}/thanks"
    assert words["thanks"] in thanks

    # The first browser, coming back, is told it is done.
    assert words["thanks"] in browser.open(f"/s/{open_survey}/p/government")

    with app.app_context():
        stored = db.session.scalars(sa.select(Response)).one()
        assert stored.status == "complete" and stored.completed_at >= stored.started_at
        assert stored.language == language
        assert stored.user_agent_hash and "Werkzeug" not in stored.user_agent_hash
        answers = dict(db.session.execute(sa.select(Answer.question_code, Answer.value)).all())
        assert "calexit_reason" not in answers
        assert answers["calexit"] == "no" and answers["trust"] == 3 and answers["comment"] == "Gracias."
        assert answers["vote_2024"] == "harris" and len(answers) == 17
        visits = db.session.scalars(sa.select(PageVisit).order_by(PageVisit.id)).all()
        assert [visit.page for visit in visits] == [
            "screening", "where_you_live", "calexit", "calexit_reasons", "calexit",
            "the_country", "government", "demographics", "comments",
        ]
        assert all(visit.seconds >= 0 for visit in visits)
        assert sorted(stored.option_orders) == ["calexit", "calexit_reason"]
        # the last page also stored what the quality counts need of the response
        rules = FactRules.of(questionnaire_of(stored.survey), stored.survey.source_hash)
        expected = rules.facts(answers, [visit.seconds for visit in visits], stored.started_at, stored.completed_at)
        assert {column: getattr(stored, column) for column in FACT_COLUMNS} == expected
        assert expected["duration_seconds"] == pytest.approx(sum(visit.seconds for visit in visits))


def test_language_switch_keeps_the_place(open_survey, respondent):
    browser = respondent(open_survey, "en")
    browser.start()
    browser.answer(ANSWERS["screening"])
    assert browser.page_id == "where_you_live"
    page = browser.open(f"/s/{open_survey}/p/where_you_live?lang=es")
    assert browser.page_id == "where_you_live" and "¿Cuántos años tiene?" in page
    assert 'href="/s/california-2025/p/where_you_live?lang=en"' in page
    # The choice sticks for the following pages, whatever the browser prefers.
    page = browser.answer(ANSWERS["where_you_live"])
    assert "Siguiente" in page and 'lang="es"' in page


def test_screener_ends_the_survey_politely(app, open_survey, respondent):
    browser = respondent(open_survey)
    browser.start()
    page = browser.answer({"resident": "yes", "adult": "no", "registered": "yes"})
    assert browser.page_path == f"/s/{open_survey}/ended"
    assert "only for adults aged 18 or older" in page
    # Coming back does not reopen the questionnaire.
    assert "only for adults" in browser.open(f"/s/{open_survey}/p/screening")
    assert "Thank you for your interest" in browser.open(f"/s/{open_survey}")
    with app.app_context():
        stored = db.session.scalars(sa.select(Response)).one()
        assert (stored.status, stored.screened_out_by, stored.completed_at) == ("screened_out", "adult", None)


def test_double_submission_of_a_page_and_of_the_last_page(app, small_survey, respondent):
    browser = respondent(small_survey)
    browser.start()
    first = browser.submit({"resident": "yes"})
    second = browser.submit({"resident": "yes"})  # the same form sent twice (double click)
    assert first.status_code == second.status_code == 302 and first.location == second.location
    browser.open(first.location)
    browser.answer({"calexit": "remain"})
    assert browser.page_id == "closing"
    final = [browser.submit({"attention": "blue", "age": "40"}) for _ in range(3)]
    assert {response.status_code for response in final} == {302}
    assert {response.location for response in final} == {f"/s/{small_survey}/thanks"}
    with app.app_context():
        stored = db.session.scalars(sa.select(Response)).one()
        assert stored.status == "complete"
        pages = db.session.scalars(sa.select(PageVisit.page).order_by(PageVisit.id)).all()
        assert pages == ["eligibility", "opinions", "closing"]


def test_number_out_of_range_is_asked_again(small_survey, respondent):
    browser = respondent(small_survey, "es")
    browser.start()
    browser.answer({"resident": "yes"})
    browser.answer({"calexit": "leave", "issues": ["fires"]})
    assert browser.page_id == "leavers" and "Débilmente" in browser.html
    browser.answer({"leave_strength": "2"})
    response = browser.submit({"attention": "red", "age": "7"})
    assert response.status_code == 200
    assert "Por favor, escriba un número entero del 18 al 110." in response.get_data(as_text=True)


def test_closed_and_unknown_surveys(app, small_survey, respondent):
    browser = respondent(small_survey)
    browser.start()
    survey_status(app, small_survey, "closed")
    response = browser.submit({"resident": "yes"})
    assert response.status_code == 200 and "This survey is closed" in response.get_data(as_text=True)
    assert "This survey is closed" in browser.open(f"/s/{small_survey}")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Answer)) == 0
    assert "No survey is open right now" in browser.open("/")
    assert browser.get("/s/no-such-survey").status_code == 404
    survey_status(app, small_survey, "draft")
    assert browser.get(f"/s/{small_survey}").status_code == 404


def test_randomized_options_keep_the_order_drawn_for_the_respondent(app, small_survey, respondent):
    browser = respondent(small_survey)
    browser.start()
    page = browser.answer({"resident": "yes"})
    shown = re.findall(r'name="q_calexit" type="radio" value="([^"]+)"', page)
    with app.app_context():
        drawn = db.session.scalars(sa.select(Response)).one().option_orders["calexit"]
    assert shown == drawn and shown[-1] == "not_sure"  # the anchored option stays last
    assert re.findall(r'name="q_calexit" type="radio" value="([^"]+)"', browser.open(browser.page_path)) == drawn
    # Options in the questionnaire's own order where nothing was randomized.
    assert re.findall(r'name="q_issues" type="checkbox" value="([^"]+)"', page) == ["economy", "water", "fires"]


def test_error_page_title_says_so(small_survey, respondent):
    browser = respondent(small_survey)
    browser.start()
    response = browser.submit({})
    assert "<title>Error: About you · Test poll</title>" in response.get_data(as_text=True)


def test_start_page_lists_several_open_surveys(open_survey, small_survey, respondent):
    page = respondent(small_survey, "es").open("/")
    assert "Encuestas abiertas ahora" in page
    assert f'href="/s/{open_survey}"' in page and f'href="/s/{small_survey}"' in page
    assert "Encuesta de prueba" in page and "California y la Unión" in page


def test_start_page_redirect_keeps_the_chosen_language(client, open_survey):
    response = client.get("/?lang=es")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/s/{open_survey}?lang=es")
