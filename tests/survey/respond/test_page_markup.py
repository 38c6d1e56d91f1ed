"""Shared page markup (``survey.respond.markup``): respondents share a rendered page, never their tokens."""
from __future__ import annotations

import pytest

from survey import create_app
from survey.extensions import db
from survey.respond import markup
from tests.support.respondents import RESUME_LINK, Respondent


@pytest.fixture
def csrf_app(app):
    """The site with CSRF checked, as deployed, so the token a shared page carries is really tested."""
    guarded = create_app({**app.config, "WTF_CSRF_ENABLED": True})
    yield guarded
    with guarded.app_context():
        db.session.remove()
        db.engine.dispose()


def _own_values(respondent: Respondent) -> list[str]:
    fields = respondent.form_fields()
    return [fields["csrf_token"], fields["visit"], RESUME_LINK.search(respondent.html).group(1)]


def test_respondents_share_an_unanswered_page_but_not_their_tokens(csrf_app, small_survey):
    first, second = (Respondent(csrf_app.test_client(), small_survey) for _ in range(2))
    first.start()
    with csrf_app.app_context():
        assert len(markup.kept_pages()) == 1
    second.start()
    with csrf_app.app_context():
        assert len(markup.kept_pages()) == 1  # the second respondent's page came from the first one's rendering

    for one, other in ((first, second), (second, first)):
        for value in _own_values(one):
            assert value not in other.html
    same = [respondent.html for respondent in (first, second)]
    for index, respondent in enumerate((first, second)):
        for number, value in enumerate(_own_values(respondent)):
            same[index] = same[index].replace(value, f"<own {number}>")
    assert same[0] == same[1]
    assert markup.CSRF_HOLE not in first.html and markup.VISIT_HOLE not in first.html

    # each one's filled-in token is accepted for their own response
    for respondent in (first, second):
        respondent.answer({"resident": "yes"})
        assert respondent.page_id == "opinions"


def test_a_page_with_saved_answers_is_drawn_for_its_respondent(app, small_survey, respondent):
    person = respondent(small_survey)
    person.start()
    first_page = person.page_path
    person.answer({"resident": "yes"})
    person.open(first_page)  # back: the saved answer shows, so this page is not the shared one
    assert 'value="yes" checked' in person.html
    other = respondent(small_survey)
    other.start()
    assert "checked" not in other.html


def test_a_page_view_leaves_the_session_cookie_alone(app, small_survey, respondent):
    """Nothing in the session changes on a page view, so the cookie is not signed and sent again."""
    person = respondent(small_survey)
    person.start()
    response = person.get(person.page_path)
    assert response.status_code == 200
    assert response.headers.get_all("Set-Cookie") == []
