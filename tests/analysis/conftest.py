"""Fixtures for the analysis tests: the reference polls as frames and designs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import SurveyDesign, rake
from analysis.spec import read_data

OWN_REFERENCE = Path(__file__).parent / "reference"
MARGINS = {
    "age_group": {"18-29": 0.21, "30-44": 0.27, "45-64": 0.32, "65+": 0.20},
    "sex": {"female": 0.505, "male": 0.495},
    "race": {"white": 0.36, "hispanic": 0.36, "asian": 0.16, "black": 0.06, "other": 0.06},
    "education": {"hs_or_less": 0.37, "some_college": 0.29, "ba_plus": 0.34},
}


@pytest.fixture(scope="session")
def poll() -> pd.DataFrame:
    """poll_b: 1,500 synthetic Californians with strata (region) and clusters."""
    return read_data(OWN_REFERENCE / "poll_b.csv")


@pytest.fixture(scope="session")
def clustered(poll) -> SurveyDesign:
    return SurveyDesign(poll, weights="base_weight", strata="stratum", cluster="psu")


@pytest.fixture(scope="session")
def raked(clustered) -> SurveyDesign:
    """b1_strata_clusters_rake.yaml's design."""
    return rake(clustered, MARGINS, population=30_000_000)
