"""The shipped California registered-voter targets: read by the same loader as the adult targets,
on the default questionnaire's codes, and figure for figure the sourced reference they were
compiled from, so a mistyped number fails here."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.weighting.reference_data import (
    DEFAULT_TARGETS_FILE,
    REGISTERED_VOTER_TARGETS_FILE,
    ReferenceDataError,
    california_registered_voter_targets,
    load_default_targets,
)

REFERENCE_NAME = "shared/reference/targets/california-registered-voters.yaml"
#: The reference is beside the canonical checkout (../shared) and above a worktree (/work/shared).
REFERENCE = next((parent / REFERENCE_NAME for parent in Path(__file__).parents
                  if (parent / REFERENCE_NAME).is_file()), None)

#: Where each shipped variable's shares are in the reference file.
REFERENCE_SHARES = {
    "region": ("region", "shares"),
    "party": ("party", "recommended_target", "shares"),
    "vote_2024": ("vote_2024", "recommended", "shares"),
    "sex": ("sex", "shares"),
    "race": ("race", "shares"),
    "age_group": ("age_group", "questionnaire_levels", "shares"),
}
WEIGHTED_BY_DEFAULT = set(REFERENCE_SHARES)


@pytest.fixture(scope="module")
def targets():
    return load_default_targets(REGISTERED_VOTER_TARGETS_FILE)


@pytest.fixture(scope="module")
def reference():
    if REFERENCE is None:
        pytest.skip(f"the sourced reference {REFERENCE_NAME} is not beside or above this checkout, "
                    "so the shipped figures cannot be compared with it")
    return yaml.safe_load(REFERENCE.read_text(encoding="utf-8"))


def _at(document, path):
    for key in path:
        document = document[key]
    return document


def test_every_variable_sums_to_one_on_the_questionnaires_codes(targets):
    questionnaire = load_file(default_questionnaire_path())
    weighting = {q.weighting_variable: q for q in questionnaire.questions if q.weighting_variable}
    for target in targets.variables:
        assert math.fsum(target.shares.values()) == pytest.approx(1, abs=1e-9), target.variable
        assert list(target.shares) == list(weighting[target.variable].option_codes), target.variable


def test_the_population_is_the_registration_total(targets):
    assert 22.6 <= round(targets.population / 1e6, 1) <= 22.9
    assert "registered voters" in targets.universe.lower()
    assert "22,900,896" in targets.caveat  # the later (February 2025) total is stated


def test_education_is_an_assumption_left_out_by_default(targets):
    education = targets.variable("education")
    assert education.optional and not education.confirmed and education.assumption
    assert set(california_registered_voter_targets().margins) == WEIGHTED_BY_DEFAULT
    assert "education" in california_registered_voter_targets(include_optional=True).margins


def test_each_figure_is_the_sourced_reference_figure(targets, reference):
    assert targets.population == reference["total_registered"]["oct_21_2024_15_day_report"]["value"]
    for variable, path in REFERENCE_SHARES.items():
        assert dict(targets.variable(variable).shares) == _at(reference, path), variable
    for variable in ("region", "party", "vote_2024"):
        target, parent = targets.variable(variable), _at(reference, REFERENCE_SHARES[variable][:-1])
        assert (dict(target.counts), target.denominator) == (parent["counts"], parent["denominator"]), variable
    assert targets.variable("region").counties == {code: tuple(names) for code, names in reference["region"]["counties"].items()}


def test_flags_follow_the_reference(targets, reference):
    assert _at(reference, ("age_group", "questionnaire_levels", "confirmed")) is False
    assert not targets.variable("age_group").confirmed and "25-34" in targets.variable("age_group").assumption
    assert california_registered_voter_targets().sources["age_group"].startswith("Assumption, not an official figure")
    for variable in ("region", "party", "vote_2024", "sex", "race"):
        assert targets.variable(variable).confirmed is _at(reference, REFERENCE_SHARES[variable][:-1])["confirmed"] is True
    # No education figure for registered voters exists: the shipped one is the adult placeholder.
    assert all(share is None for share in reference["education"]["shares"].values())
    adult_education = load_default_targets(DEFAULT_TARGETS_FILE).variable("education").shares
    assert targets.variable("education").shares == adult_education


def test_largest_remainder_rounding_is_accepted_but_a_share_one_unit_further_off_is_not(tmp_path, targets):
    vote = targets.variable("vote_2024")
    assert vote.counts["other"] / vote.denominator < 0.0224645 < vote.shares["other"]  # rounded up by remainder
    document = yaml.safe_load(REGISTERED_VOTER_TARGETS_FILE.read_text(encoding="utf-8"))
    document["variables"]["vote_2024"]["shares"].update(other=0.022466, did_not_vote=0.297852)
    path = tmp_path / REGISTERED_VOTER_TARGETS_FILE.name
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ReferenceDataError, match=re.escape("share of `vote_2024` = `other` is 0.022466, but its count")):
        load_default_targets(path)


def test_the_vote_question_tells_new_registrants_what_to_answer():
    vote = load_file(default_questionnaire_path()).question("vote_2024")
    assert vote.weighting_variable == "vote_2024" and vote.option_codes[-1] == "did_not_vote"
    assert "after November 2024" in vote.help["en"] and "después de noviembre de 2024" in vote.help["es"]
    assert "not registered" in vote.option("did_not_vote").label["en"]
