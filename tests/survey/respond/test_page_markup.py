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
        assert len(markup.kept_pages()) == 2  # the consent page and the first page
    second.start()
    with csrf_app.app_context():
        assert len(markup.kept_pages()) == 2  # the second respondent's pages came from the first one's rendering

    for one, other in ((first, second), (second, first)):
        for value in _own_values(one):
            assert value not in other.html
    same = [respondent.html for respondent in (first, second)]
    for index, respondent in enumerate((first, second)):
        for number, value in enumerate(_own_values(respondent)):
            same[index] = same[index].replace(value, f"<own {number}>")
    assert same[0] == same[1]
    assert markup.CSRF_HOLE not in first.html and markup.SIGNED_HOLE not in first.html

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


def test_the_public_consent_page_is_shared_but_not_its_tokens(csrf_app, small_survey):
    first, second = (Respondent(csrf_app.test_client(), small_survey) for _ in range(2))
    consent = f"/s/{small_survey}/consent"
    first.open(consent)
    second.open(consent)
    with csrf_app.app_context():
        assert len(markup.kept_pages()) == 1
    own = [respondent.form_fields() for respondent in (first, second)]
    assert own[0]["csrf_token"] != own[1]["csrf_token"] and own[0]["start"] != own[1]["start"]
    same = [respondent.html.replace(fields["csrf_token"], "<csrf>").replace(fields["start"], "<start>")
            for respondent, fields in zip((first, second), own)]
    assert same[0] == same[1]
    assert markup.CSRF_HOLE not in first.html and markup.SIGNED_HOLE not in first.html

    # another browser's start field is refused; each one's own starts its response
    assert first.post(consent, {**own[0], "start": own[1]["start"]}).status_code == 400
    for respondent in (first, second):
        respondent.start()
        assert respondent.page_id == "eligibility"


def test_an_invitations_consent_page_is_its_own(csrf_app, small_survey):
    """Its language links carry the invitation's token, so it is never kept for another respondent."""
    import sqlalchemy as sa

    from survey.models import Survey
    from survey.responses.invitations import create_invitations

    with csrf_app.app_context():
        [(_panel_id, token)] = create_invitations(db.session.scalar(sa.select(Survey)), ["panel-1"])
        db.session.commit()
    invited = Respondent(csrf_app.test_client(), small_survey)
    invited.open(f"/i/{token}")
    assert f"/i/{token}?lang=es" in invited.html
    with csrf_app.app_context():
        assert markup.kept_pages() == {}
    invited.start(f"/i/{token}")
    assert invited.page_id == "eligibility"
