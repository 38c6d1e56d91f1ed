"""The banner every banner test uses: the default poll of 400 simulated Californians, raked to the
test targets, civil_war_5yr and calexit by party and age_group.

``python -m tests.support.banners`` writes its data file and analysis spec to
``tests/survey/reporting/reference/`` and, with R's ``survey`` installed, the R result beside them
(``Rscript make_expected.R``, the shared reference script); the tests never call R.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from survey.extensions import db
from survey.responses.quality import ExclusionRules
from survey.reporting.banners import BannerOptions
from survey.weighting.runs import create_run, publish_run
from survey.weighting.settings import WeightingSettings
from tests.support.polls import load_default_survey, seed_poll
from tests.survey.weighting.test_runs import TARGETS

REFERENCE = Path(__file__).resolve().parents[1] / "survey" / "reporting" / "reference"
DATA_FILE = "banner_poll.csv"
SPEC_FILE = REFERENCE / "banner_poll.yaml"
EXPECTED_FILE = REFERENCE / "banner_poll.expected.json"
R_SCRIPT = Path("/work/shared/reference/analysis/make_expected.R")
OPTIONS = BannerOptions(rows=("civil_war_5yr", "calexit"), columns=("party", "age_group"), alpha=0.05)
RESPONDENTS = 400


def banner_run():
    """Inside an app context: the survey and its raked, published run (the same data every time)."""
    survey = load_default_survey()
    seed_poll(survey, RESPONDENTS)
    run = create_run(survey, WeightingSettings(TARGETS), ExclusionRules(), None)
    db.session.flush()
    publish_run(run)  # the run the API and the pages show when none is named
    db.session.commit()
    return survey, run


@pytest.fixture
def banner_owner(app, client, make_pollster, sign_in):
    """The banner poll and its run, published (what the API serves when no run is named), its owner
    signed in on ``client``; (slug, run id, API headers)."""
    with app.app_context():
        survey, run = banner_run()
        publish_run(run)
        db.session.commit()
        slug, run_id = survey.slug, run.id
    make_pollster("owner@example.org", slug)
    sign_in(client, "owner@example.org")
    page = client.post("/pollster/tokens", data={"name": "tables"}).get_data(as_text=True)
    token = re.search(r"svy_[\w-]+", page).group()
    return slug, run_id, {"Authorization": f"Bearer {token}"}


def write_reference() -> None:
    from survey import create_app
    from survey.reporting.banners import build_banner
    from survey.weighting.runs import compute
    from tests.support.site import settings_for_tests

    app = create_app({**settings_for_tests(), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        db.create_all()
        _, run = banner_run()
        banner = build_banner(run, OPTIONS)
        REFERENCE.mkdir(exist_ok=True)
        (REFERENCE / DATA_FILE).write_bytes(compute(run, estimates=False).csv_bytes)
        SPEC_FILE.write_text(
            "# The banner of tests/support/banners.py (civil_war_5yr with its nets, calexit, by party and\n"
            "# age_group); made by `python -m tests.support.banners`.\n"
            + yaml.safe_dump({**banner.spec, "data": DATA_FILE}, sort_keys=False)
        )
    if R_SCRIPT.exists():
        subprocess.run(["Rscript", str(R_SCRIPT), str(SPEC_FILE), str(EXPECTED_FILE)], check=True)
    else:
        sys.exit(f"{R_SCRIPT} is missing: the spec and data are written, the R result is not")


if __name__ == "__main__":
    write_reference()
