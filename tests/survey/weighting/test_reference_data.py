"""The shipped reference data: default California targets and published figures, and the checks
that refuse a broken file with a message naming the variable or figure."""
from __future__ import annotations

import copy
import datetime as dt
import math
import re

import pytest
import yaml

from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.weighting.reference_data import (
    DEFAULT_TARGETS_FILE,
    PUBLISHED_FIGURES_FILE,
    ReferenceDataError,
    california_adult_targets,
    load_default_targets,
    load_published_figures,
    published_figures,
)
from tests.support.polls import WEIGHTING_CODES as EXPECTED_CODES


@pytest.fixture(scope="module")
def questionnaire():
    return load_file(default_questionnaire_path())


def test_shipped_targets_use_exactly_the_questionnaire_codes_and_sum_to_one(questionnaire):
    targets = load_default_targets()
    assert {v: list(levels) for v, levels in targets.margins().items()} == EXPECTED_CODES
    weighting = {q.weighting_variable: q for q in questionnaire.questions if q.weighting_variable}
    for target in targets.variables:
        assert math.isclose(sum(target.shares.values()), 1, abs_tol=1e-6), target.variable
        assert set(target.shares) == set(weighting[target.variable].option_codes), target.variable


def test_every_confirmed_target_follows_from_its_counts_and_cites_its_source():
    targets = load_default_targets()
    for target in targets.variables:
        assert target.source.title and target.computed
        if target.confirmed:
            assert target.source.url.startswith("http")
            assert target.assumption is None
        if target.counts:
            for code, count in target.counts.items():
                assert target.shares[code] == pytest.approx(count / target.denominator, abs=5e-7)
    adults = sum(targets.variable("age_group").counts.values())
    assert adults == sum(targets.variable("sex").counts.values()) == targets.population == 30_581_534
    region = targets.variable("region")
    assert sum(region.counts.values()) == region.denominator == 39_356_104
    assert sum(len(names) for names in region.counties.values()) == 58


def test_education_is_marked_as_an_assumption_not_an_official_figure():
    education = load_default_targets().variable("education")
    assert education.confirmed is False
    assert "assumption" in education.assumption.lower() or "not found" in education.assumption.lower()
    sources = california_adult_targets().sources
    assert sources["education"].startswith("Assumption, not an official figure")
    assert "American Community Survey" in sources["age_group"] and "2018-2022" in sources["age_group"]


def test_party_registration_is_optional_with_its_date(questionnaire):
    party = load_default_targets().variable("party")
    assert party.optional and party.as_of and party.confirmed
    assert set(party.shares) == set(questionnaire.question("party").option_codes)
    assert "party" not in california_adult_targets().margins
    assert california_adult_targets(include_optional=True).margins["party"]["dem"] == pytest.approx(0.462)


def test_site_targets_are_a_fresh_copy_each_time():
    first = california_adult_targets()
    first.margins["sex"]["female"] = 0.9
    assert california_adult_targets().margins["sex"]["female"] == pytest.approx(0.502515)
    assert first.population == 30_581_534


def test_every_published_figure_has_source_population_and_dates(questionnaire):
    figures = load_published_figures()
    assert len(figures) >= 5
    for figure in figures:
        assert figure.source.title and figure.population and figure.field_dates and figure.caveat, figure.id
        if figure.confirmed:
            assert figure.source.url.startswith("http"), figure.id
        if figure.question:
            codes = set(questionnaire.question(figure.question).option_codes)
            assert set(figure.shares) <= codes, figure.id
            for group in figure.groups:
                assert set(group.categories) <= codes, figure.id


def test_rasmussen_2024_breakdown_and_its_41_percent():
    (figure,) = [f for f in published_figures("civil_war_5yr") if f.id == "rasmussen_civil_war_2024"]
    assert dict(figure.shares) == {"very_likely": 0.16, "somewhat_likely": 0.25, "not_very_likely": 0.29,
                                   "not_at_all_likely": 0.20, "not_sure": 0.10}
    assert (figure.n, str(figure.field_start), str(figure.field_end)) == (1105, "2024-04-21", "2024-04-23")
    likely = figure.groups[0]
    assert likely.share == pytest.approx(sum(figure.shares[c] for c in likely.categories)) == pytest.approx(0.41)
    assert figure.complete and figure.testable and not figure.wording_confirmed
    assert figure.to_dict()["field_start"] == "2024-04-21"


def test_secession_figures_are_honest_about_what_they_are():
    by_id = {f.id: f for f in published_figures("calexit")}
    fourteen = by_id["california_secession_14_percent"]
    assert fourteen.confirmed is False and dict(fourteen.shares) == {"yes": 0.14}
    assert "NO PRIMARY SOURCE" in fourteen.caveat
    assert not fourteen.testable  # no primary source: shown as context, never tested
    assert not by_id["ici_yougov_initiative_2025"].testable  # another question: shown, not tested
    assert by_id["kpix_surveyusa_calexit_2016"].complete


# --------------------------------------------------------------------------- refusing broken files


def _write(tmp_path, source, change):
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def _set(path, value):
    def change(document):
        *parents, last = path
        for key in parents:
            document = document[key]
        if value is None:
            del document[last]
        else:
            document[last] = value
    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_set(["variables", "region", "shares", "north"], 0.063431),
         "target shares for `region` sum to 0.97, not 1"),
        (_set(["variables", "sex", "shares"], {"": 0.5, "male": 0.5}), "empty or non-text code"),
        (_set(["variables", "sex", "shares"], {True: 0.5, "male": 0.5}), 'quote codes such as "yes"'),
        (_set(["variables", "education", "assumption"], None), "`education` is confirmed: false, so it needs an `assumption`"),
        (_set(["variables", "sex", "counts", "female"], 15_000_000), "share of `sex` = `female` is 0.502515, but its count"),
        (_set(["variables", "sex", "shares", "male"], 1.5), "share of `male` is 1.5"),
        (_set(["variables", "age_group", "source"], None), 'variables.age_group: missing "source"'),
        (_set(["variables", "age_group", "sorce"], "x"), 'variables.age_group: unknown key "sorce" (did you mean "source"?)'),
        (_set(["population"], -1), "population: must be a positive number, not -1"),
    ],
)
def test_broken_targets_files_are_refused_with_the_variable_named(tmp_path, change, message):
    with pytest.raises(ReferenceDataError, match=re.escape(message)):
        load_default_targets(_write(tmp_path, DEFAULT_TARGETS_FILE, change))


def _figure(index, key, value):
    def change(document):
        if value is None:
            del document["figures"][index][key]
        else:
            document["figures"][index][key] = value
    return change


def _duplicate_first(document):
    document["figures"].append(copy.deepcopy(document["figures"][0]))


@pytest.mark.parametrize(
    "change, message",
    [
        (_figure(0, "population", None), 'figures[0]: missing "population"'),
        (_figure(0, "field_dates", None), 'figures[0]: missing "field_dates"'),
        (_figure(0, "source", {"url": "https://example.org"}), 'figures[0].source: missing "title"'),
        (_figure(0, "source", {"title": "somewhere"}), "figures[0].source: confirmed: true but its source has no `url`"),
        (_figure(0, "question", None), "`shares` and `groups` need the `question`"),
        (_figure(0, "field_start", "April 2024"), "figures[0].field_start: must be a date"),
        (_figure(0, "field_end", dt.date(2024, 4, 1)), "field_start 2024-04-21 is after field_end"),
        (_figure(0, "shares", {"very_likely": 0.9, "not_sure": 0.5}), "shares sum to 1.400, more than 1"),
        (_duplicate_first, "figure id(s) rasmussen_civil_war_2024 appear more than once"),
    ],
)
def test_broken_figures_files_are_refused_with_the_figure_named(tmp_path, change, message):
    with pytest.raises(ReferenceDataError, match=re.escape(message)):
        load_published_figures(_write(tmp_path, PUBLISHED_FIGURES_FILE, change))


def test_every_problem_of_a_targets_file_is_reported_at_once(tmp_path):
    def change(document):
        document["population"] = -1
        del document["variables"]["age_group"]["source"]
        document["variables"]["sex"]["shares"]["male"] = 1.5

    with pytest.raises(ReferenceDataError) as refused:
        load_default_targets(_write(tmp_path, DEFAULT_TARGETS_FILE, change))
    assert str(refused.value).splitlines() == [
        "california_adult_targets.yaml: population: must be a positive number, not -1",
        'california_adult_targets.yaml: variables.age_group: missing "source"',
        "california_adult_targets.yaml: variables.sex.shares.male: share of `male` is 1.5, not a number from 0 to 1",
    ]
