"""A pollster in Debian's Chromium: signs in, runs the weighting, reads the results, downloads a file.

The site runs in a thread on a free local port over a migrated SQLite file; screenshots at
phone (375 px) and desktop width go to ``test-artifacts/`` to be looked at.
"""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from survey.extensions import db
from survey.models import Answer, Survey, TargetSet
from tests.browser.conftest import ARTIFACTS, served
from tests.support.polls import load_default_survey, seed_poll
from tests.support.site import TEST_PASSWORD, app_for
from tests.survey.weighting.test_runs import TARGETS

pytestmark = pytest.mark.browser

EMAIL = "browser@example.org"
WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}


@contextmanager
def _served_poll(tmp_path, make_pollster_for, prepare: Callable[[Survey], None]) -> Iterator[tuple[str, str]]:
    """(base URL, slug) of the default survey on a migrated SQLite file, ``prepare``d, with our pollster."""
    from flask_migrate import upgrade

    app = app_for("sqlite:///" + str(tmp_path / "browser.db"))
    app.instance_path = str(tmp_path / "instance")
    with app.app_context():
        upgrade()
        survey = load_default_survey()
        prepare(survey)
        db.session.commit()
        make_pollster_for(EMAIL, survey)
        slug = survey.slug
    with served(app) as base:
        yield base, slug


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/pollster/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)  # signed in before the caller's next page


@pytest.fixture
def live_site(tmp_path, make_pollster_for):
    def prepare(survey: Survey) -> None:
        seed_poll(survey, 160)
        db.session.add(TargetSet(survey_id=survey.id, targets=TARGETS.to_dict()))

    with _served_poll(tmp_path, make_pollster_for, prepare) as site:
        yield site


@pytest.fixture
def make_pollster_for():
    from survey.accounts.passwords import hash_password
    from survey.models import Pollster

    def make(email, survey):
        pollster = Pollster(email=email, password_hash=hash_password(TEST_PASSWORD))
        pollster.surveys = [survey]
        db.session.add(pollster)
        db.session.commit()

    return make


def _shoot(page, name: str, widths: dict[str, tuple[int, int]] = WIDTHS) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for label, (width, height) in widths.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"pollster-{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the {name} page scrolls sideways by {overflow}px at {width}px wide"


def test_pollster_weights_reads_results_and_downloads(live_site, chromium, tmp_path):
    base, slug = live_site
    page = chromium.new_page(accept_downloads=True)
    _sign_in(page, base)
    page.goto(f"{base}/pollster/surveys/{slug}/weighting")
    page.select_option("select[name=method]", "rake")
    page.fill("input[name=trim_low]", "0.3")
    page.fill("input[name=trim_high]", "4")
    page.click("text=Run weighting")
    page.wait_for_selector("#diagnostics-heading")
    assert "Converged" in page.inner_text("#diagnostics-heading + p + dl, .stats")
    _shoot(page, "weighting")

    page.click("text=Read the results of run")
    page.wait_for_selector("#q-calexit")
    assert page.locator("#q-calexit svg[role=img] title").text_content()
    assert "%" in page.inner_text("#q-calexit table")
    _shoot(page, "results")

    page.select_option("select[name=by]", "sex")
    page.click("text=Show")
    page.wait_for_selector("#q-civil_war_5yr")
    assert "Female" in page.locator("#q-civil_war_5yr svg[role=img] desc").text_content()
    _shoot(page, "crosstab")

    page.goto(f"{base}/pollster/surveys/{slug}/downloads")
    _shoot(page, "downloads")
    with page.expect_download() as info:
        page.click("a[href$='files/respondents.csv']")
    download = info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert "weight" in header and "calexit" in header


STATEMENT_WIDTHS = {"phone": (390, 844), "desktop": (1280, 900)}


def test_pollster_states_the_methodology_and_watches_the_fieldwork(live_site, chromium):
    """Fieldwork before any weighting, the disclosure form, a run's print-ready statement."""
    base, slug = live_site
    page = chromium.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/pollster/surveys/{slug}/fieldwork")
    assert "Unweighted" in page.inner_text("#frequencies-heading + p")
    assert page.locator(".composition table").count() >= 3
    _shoot(page, "fieldwork", STATEMENT_WIDTHS)

    page.goto(f"{base}/pollster/surveys/{slug}/methodology")
    page.fill("input[name=sponsor]", "Golden State Institute")
    page.fill("input[name=conducted_by]", "Example Research")
    page.click("text=Save methodology")
    page.wait_for_selector("text=Methodology saved")
    _shoot(page, "methodology", STATEMENT_WIDTHS)

    page.goto(f"{base}/pollster/surveys/{slug}/weighting")
    page.click("text=Run weighting")
    page.wait_for_selector("#diagnostics-heading")
    page.goto(f"{base}/pollster/surveys/{slug}/methodology")
    page.click("text=print-ready page")
    page.wait_for_selector("article.statement h1")
    text = page.inner_text("article.statement")
    assert "Golden State Institute" in text and "Opt-in sample" in text and "±" not in text
    _shoot(page, "statement", STATEMENT_WIDTHS)
    page.emulate_media(media="print")
    assert page.locator(".pollster-bar").is_hidden() and page.locator(".tabs").is_hidden()
    page.pdf(path=str(ARTIFACTS / "pollster-statement.pdf"))


def test_banner_page_at_desktop_and_phone_width(live_site, chromium):
    """The banner scrolls inside its frame at 390 px (the page itself never scrolls sideways), with a
    visible cue and the answer column kept in view; screenshots go to test-artifacts/ to be looked at."""
    base, slug = live_site
    page = chromium.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/pollster/surveys/{slug}/weighting")
    page.click("text=Run weighting")
    page.wait_for_selector("#diagnostics-heading")
    page.goto(f"{base}/pollster/surveys/{slug}/banner?rows=civil_war_5yr,calexit&columns=party,age_group")
    page.wait_for_selector("#b-civil_war_5yr table")
    assert "Very or somewhat likely" in page.inner_text("#b-civil_war_5yr table")
    ARTIFACTS.mkdir(exist_ok=True)
    for label, width in (("desktop", 1280), ("phone", 390)):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"pollster-banner-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the banner page scrolls sideways by {overflow}px at {width}px wide"
    frame = page.locator("#b-civil_war_5yr .table-scroll")
    assert frame.evaluate("node => node.scrollWidth > node.clientWidth")  # more columns than fit: it scrolls
    assert page.locator("#b-civil_war_5yr .scroll-cue").is_visible()
    frame.evaluate("node => { node.scrollLeft = node.scrollWidth; }")
    stub = page.locator("#b-civil_war_5yr tbody th.stub").first.bounding_box()
    assert stub["x"] < 60, "the answer column should stay in view while the numbers scroll"
    page.locator("#b-civil_war_5yr").screenshot(path=str(ARTIFACTS / "pollster-banner-phone-scrolled.png"))


@pytest.fixture
def early_fieldwork_site(tmp_path, make_pollster_for):
    """The default survey with 80 completes and nobody of race "other", the shipped targets only."""
    def prepare(survey: Survey) -> None:
        seed_poll(survey, 80, seed=11)
        for answer in db.session.query(Answer).filter(Answer.question_code == "race"):
            if answer.value == "other":
                answer.value = "white"

    with _served_poll(tmp_path, make_pollster_for, prepare) as site:
        yield site


def test_weighting_page_shows_one_methods_controls_and_a_way_past_an_empty_level(early_fieldwork_site, chromium):
    base, slug = early_fieldwork_site
    page = chromium.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/pollster/surveys/{slug}/weighting")
    assert page.is_hidden("select[name=calfun]") and page.is_hidden("select[name=poststratify_by]")
    assert page.is_visible("select[name=variance]")
    page.select_option("select[name=method]", "calibrate")
    assert page.is_visible("select[name=calfun]") and page.is_visible("input[name=bound_low]")
    page.select_option("select[name=method]", "rake")
    assert page.is_hidden("input[name=bound_low]")
    assert "No respondents yet" in page.inner_text("#target-race")
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"pollster-weighting-early-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the weighting page scrolls sideways by {overflow}px at {width}px wide"
    for select in page.locator("select[name^='merge:']").all():
        select.select_option(index=1)
    page.fill("input[name=name]", "Week 1, race merged")
    page.click("text=Run weighting")
    page.wait_for_selector("#diagnostics-heading")
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"pollster-weighting-run-{width}.png"), full_page=True)
    page.click("text=Publish this run")
    page.wait_for_selector(".badge-published")
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"pollster-weighting-published-{width}.png"), full_page=True)
