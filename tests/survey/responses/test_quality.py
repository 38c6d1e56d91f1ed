"""Quality flags and the exclusion rules that use them."""
from __future__ import annotations

import pandas as pd
import pytest

from survey.responses.quality import (
    ExclusionRules,
    duplicates,
    failed_attention,
    quality_flags,
    speeders,
    straightliners,
)


def test_speeders_are_under_a_share_of_the_median():
    durations = pd.Series([100.0, 200.0, 210.0, 220.0, 79.0, None], index=[1, 2, 3, 4, 5, 6])
    # median of the known durations is 200; under 0.4 * 200 = 80 is a speeder
    assert speeders(durations, 0.4).tolist() == [False, False, False, False, True, False]


def test_straightlining_needs_a_full_grid_of_one_answer():
    answers = pd.DataFrame(
        {"g1": ["a", "a", "a", "a"], "g2": ["a", "b", "a", "a"], "g3": ["a", "a", None, "a"], "x": [1, 2, 3, 4]}
    )
    flags = straightliners(answers, {"trust": ["g1", "g2", "g3"]}, min_items=3)
    assert flags.tolist() == [True, False, False, True]
    assert not straightliners(answers, {"trust": ["g1", "g2"]}, min_items=3).any()


def test_attention_check_failed_when_wrong_or_missing():
    answers = pd.DataFrame({"check": ["blue", "red", None]})
    assert failed_attention(answers, {"check": {"blue"}}).tolist() == [False, True, True]


def test_duplicates_same_browser_same_answers_inside_window():
    answers = pd.DataFrame({"q": ["a", "a", "a", "a", "b"]}, index=[10, 11, 12, 13, 14])
    agents = pd.Series(["ua1", "ua1", "ua1", "ua2", "ua1"], index=answers.index)
    at = pd.Series(
        pd.to_datetime(["2025-01-01 10:00", "2025-01-01 10:20", "2025-01-01 13:00", "2025-01-01 10:05", "2025-01-01 10:01"], utc=True),
        index=answers.index,
    )
    assert duplicates(answers, agents, at, window_minutes=60).tolist() == [False, True, False, False, False]


def test_rules_exclude_only_chosen_flags_and_round_trip():
    rules = ExclusionRules(exclude=("speeder",), extra_excluded_ids=(3,))
    assert ExclusionRules.from_dict(rules.to_dict()) == rules
    answers = pd.DataFrame({"q": ["a", "b", "c"]}, index=[1, 2, 3])
    flags = quality_flags(
        answers,
        durations=pd.Series([10.0, 300.0, 300.0], index=answers.index),
        user_agent_hash=pd.Series([None] * 3, index=answers.index),
        completed_at=pd.Series(pd.to_datetime(["2025-01-01"] * 3, utc=True), index=answers.index),
        rules=rules,
        attention_checks={"q": {"b", "c"}},
    )
    assert flags["attention_failed"].tolist() == [True, False, False]
    assert rules.excluded(flags).tolist() == [True, False, True]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"speeder_share": 1.5}, "speeder_share must be between 0 and 1"),
        ({"exclude": ["fast"]}, "unknown quality flag"),
        ({"colour": "red"}, "unknown exclusion setting"),
    ],
)
def test_bad_rules_say_what_is_wrong(settings, message):
    with pytest.raises(ValueError, match=message):
        ExclusionRules.from_dict(settings)
