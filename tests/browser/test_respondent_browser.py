"""A respondent in Debian's Chromium completes the default survey on a 375-pixel-wide phone.

The site runs in a thread on a free local port over a migrated SQLite file, with CSRF on as
in production. Screenshots go to ``test-artifacts/`` to be looked at: every step at phone
width in English, the key steps at phone and desktop width in English and Spanish. No page
may scroll sideways, and the browser must report no Content-Security-Policy violation.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, Response
from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.questionnaires.sync import load_into_database
from tests.browser.conftest import ARTIFACTS, served
from tests.support.site import app_for

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
# Kept at both widths in both languages; the English run keeps every step at phone width too.
KEY_STEPS = frozenset({"1-landing", "2-consent", "5-errors", "6-calexit_reasons", "6-government", "7-thanks"})

ANSWERS = [
    ("screening", {"resident": "yes", "adult": "yes", "registered": "yes"}),
    ("where_you_live", {"age_group": "30-44", "region": "central_valley"}),
    ("calexit", {"calexit": "yes"}),
    ("calexit_reasons", {"calexit_reason": ["economy", "other"]}),
    ("the_country", {"civil_war_5yr": "very_likely", "jefferson": "somewhat_oppose"}),
    ("government", {"sue_federal": "somewhat_disapprove", "trust": "7", "attention": "somewhat_disagree"}),
    ("demographics", {"sex": "male", "race": "asian", "education": "some_college", "party": "npp", "vote_2024": "other"}),
    ("comments", {"comment": "Typed on a phone."}),
]
WORDS = {
    "en": {"start": "Start the survey", "agree": "I agree, start the survey", "next": "Next",
           "finish": "Finish", "error": "Please choose an answer.", "thanks": "Thank you"},
    "es": {"start": "Comenzar la encuesta", "agree": "Acepto, comenzar la encuesta", "next": "Siguiente",
           "finish": "Terminar", "error": "Por favor, elija una respuesta.", "thanks": "Gracias"},
}


@pytest.fixture
def live_site(tmp_path):
    from flask_migrate import upgrade

    app = app_for("sqlite:///" + str(tmp_path / "browser.db"), WTF_CSRF_ENABLED=True)
    app.instance_path = str(tmp_path / "instance")
    with app.app_context():
        upgrade()
        survey = load_into_database(load_file(default_questionnaire_path()), db.session)
        survey.status = "open"
        db.session.commit()
    with served(app) as base:
        yield app, base


class Screens:
    """Screenshots named by step at phone and desktop width, and the checks every screen must pass."""

    def __init__(self, page, language: str, steps: frozenset[str] | None):
        self.page, self.language, self.steps = page, language, steps
        self.csp_violations: list[str] = []
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_violations.append(message.text)

    def shoot(self, step: str) -> None:
        """Check the screen at phone width; keep pictures of the ``steps`` (None: every step)
        and of the key steps at desktop width too."""
        if self.steps is None or step in self.steps:
            self._picture(step, "phone")
        if step in KEY_STEPS:
            self.page.set_viewport_size(DESKTOP)
            self._picture(step, "desktop")
            self.page.set_viewport_size(PHONE)
        self._no_sideways_scroll(step, PHONE["width"])
        assert not self.csp_violations, self.csp_violations

    def _picture(self, step: str, device: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"respondent-{device}-{self.language}-{step}.png"), full_page=True)
        self._no_sideways_scroll(step, self.page.viewport_size["width"])

    def _no_sideways_scroll(self, step: str, width: int) -> None:
        overflow = self.page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{step} scrolls sideways by {overflow}px at {width}px wide"


def _choose(page, code: str, value) -> None:
    for item in value if isinstance(value, list) else [value]:
        page.locator(f'input[name="q_{code}"][value="{item}"]').check()


@pytest.mark.parametrize(("language", "steps"), [("en", None), ("es", KEY_STEPS)])
def test_respondent_completes_the_survey_on_a_phone(live_site, chromium, language, steps):
    app, base = live_site
    words = WORDS[language]
    context = chromium.new_context(viewport=PHONE, locale=language, extra_http_headers={"Accept-Language": language})
    page = context.new_page()
    screens = Screens(page, language, steps)

    page.goto(base + "/")
    page.get_by_role("link", name=words["start"]).wait_for()
    screens.shoot("1-landing")
    page.get_by_role("link", name=words["start"]).click()
    page.wait_for_url("**/consent")
    screens.shoot("2-consent")
    page.get_by_role("button", name=words["agree"]).click()

    # The keyboard alone: skip link, then Tab to the first answer, Space to choose it.
    page.wait_for_url("**/p/screening")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    screens.shoot("3-skip-link-focused")
    page.keyboard.press("Enter")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "q_resident":
            break
    page.keyboard.press("Space")
    screens.shoot("4-keyboard-focus")
    page.get_by_role("button", name=words["next"]).click()
    # The page comes back at the same address, so wait for its error, not for a URL.
    page.locator("#error-adult").wait_for()
    assert words["error"] in page.content()  # two questions left unanswered
    assert page.locator("#question-adult").get_attribute("aria-describedby") == "error-adult"
    screens.shoot("5-errors")

    for page_id, answers in ANSWERS:
        page.wait_for_url(f"**/p/{page_id}")
        for code, value in answers.items():
            if code == "comment":
                page.get_by_label(page.locator("#legend-comment").inner_text().split(" (")[0]).fill(value)
            else:
                _choose(page, code, value)
        screens.shoot(f"6-{page_id}")
        button = words["finish"] if page_id == "comments" else words["next"]
        page.get_by_role("button", name=button).click()

    page.wait_for_url("**/thanks")
    assert words["thanks"] in page.locator("h1").inner_text()
    screens.shoot("7-thanks")
    context.close()

    with app.app_context():
        response = db.session.scalars(sa.select(Response).order_by(Response.id.desc())).first()
        assert response.status == "complete" and response.language == language
        answers = dict(
            db.session.execute(
                sa.select(Answer.question_code, Answer.value).where(Answer.response_id == response.id)
            ).all()
        )
        assert answers["calexit_reason"] == ["economy", "other"] and answers["trust"] == 7
        assert answers["comment"] == "Typed on a phone."
