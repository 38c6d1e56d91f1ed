"""Reading uploaded weighting targets (CSV and YAML); the statistics check them afterwards."""
from __future__ import annotations

import pytest

from survey.weighting.targets import Targets, TargetsFileError, parse_csv, parse_upload, parse_yaml


def test_csv_with_sources_and_percent_signs():
    targets = parse_csv("variable,level,share,source\nsex,female,50.5%,ACS 2022\nsex,male,0.495,\nregion,north,1\n")
    assert targets.margins == {"sex": {"female": pytest.approx(0.505), "male": 0.495}, "region": {"north": 1.0}}
    assert targets.sources == {"sex": "ACS 2022"}
    assert parse_csv(targets.to_csv()).margins == targets.margins


def test_yaml_with_population_or_bare_margins():
    full = parse_yaml("population: 30000000\nmargins:\n  sex: {female: 0.5, male: 0.5}\nsources: {sex: ACS}\n")
    assert full.population == 30_000_000 and full.sources == {"sex": "ACS"}
    bare = parse_yaml("sex: {female: 0.5, male: 0.5}\n")
    assert bare.margins == {"sex": {"female": 0.5, "male": 0.5}}
    assert Targets.from_dict(full.to_dict()) == full


@pytest.mark.parametrize(
    "filename, text, message",
    [
        ("t.csv", "variable,level\nsex,female\n", "missing: share"),
        ("t.csv", "variable,level,share\nsex,female,half\n", "line 2: share 'half' is not a number"),
        ("t.csv", "variable,level,share\nsex,female,0.5\nsex,female,0.5\n", "line 3: level 'female' of 'sex' appears twice"),
        ("t.yaml", "- a\n- b\n", "must be a mapping"),
        ("t.yaml", "sex: 0.5\n", "margins.sex: must be a mapping"),
        ("t.txt", "x", "upload a .csv or .yaml file"),
    ],
)
def test_unreadable_files_say_where(filename, text, message):
    with pytest.raises(TargetsFileError, match=message):
        parse_upload(filename, text.encode())


def test_every_yaml_problem_is_reported_at_once_with_its_place():
    with pytest.raises(TargetsFileError) as refused:
        parse_yaml("margins:\n  sex: {female: half, male: 0.5}\n  age: 3\nsources: {sex: [1]}\ncolour: red\n")
    assert str(refused.value).split("; ") == [
        "margins.sex.female: share 'half' is not a number",
        "margins.age: must be a mapping of level -> share, not 3",
        "sources.sex: must be a text, not list",
        'unknown key "colour"',
    ]
