"""Data-quality flags per response, and the explicit rules that turn flags into exclusions.

Flags are facts about a response (it was fast, it gave one answer down a whole grid);
whether a flag excludes the response is a separate, stored choice (``ExclusionRules``), so
an analysis can be rerun later with exactly the same respondents. Everything here works on
pandas objects and knows nothing about the database.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

FLAGS = ("speeder", "straightliner", "attention_failed", "duplicate")

FLAG_LABELS = {
    "speeder": "Speeder (completion time under the set share of the median)",
    "straightliner": "Straight-lining (one answer down a whole grid)",
    "attention_failed": "Failed an attention check",
    "duplicate": "Duplicate (same browser and identical answers within the window)",
}


@dataclass(frozen=True)
class ExclusionRules:
    """How flags are computed and which of them exclude a response from the analysis.

    Stored as a plain mapping with every weighting run (``to_dict``/``from_dict``) so a
    published number can be reproduced with the same respondents.
    """

    speeder_share: float = 0.4
    straightline_min_items: int = 3
    duplicate_window_minutes: float = 60.0
    exclude: tuple[str, ...] = ("speeder", "attention_failed", "duplicate")
    exclude_simulated: bool = False
    extra_excluded_ids: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 0 < self.speeder_share < 1:
            raise ValueError(f"speeder_share must be between 0 and 1 (a share of the median time), not {self.speeder_share}")
        if self.straightline_min_items < 2:
            raise ValueError(f"straightline_min_items must be at least 2, not {self.straightline_min_items}")
        if self.duplicate_window_minutes < 0:
            raise ValueError(f"duplicate_window_minutes cannot be negative ({self.duplicate_window_minutes})")
        unknown = sorted(set(self.exclude) - set(FLAGS))
        if unknown:
            raise ValueError(f"unknown quality flag(s) in exclude: {', '.join(unknown)}; known: {', '.join(FLAGS)}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exclude"] = list(self.exclude)
        data["extra_excluded_ids"] = list(self.extra_excluded_ids)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "ExclusionRules":
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown exclusion setting(s): {', '.join(unknown)}")
        for key in ("exclude", "extra_excluded_ids"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def excluded(self, flags: pd.DataFrame, simulated: pd.Series | None = None) -> pd.Series:
        """True for each response these rules leave out (``flags`` indexed like the responses)."""
        out = pd.Series(False, index=flags.index)
        for flag in self.exclude:
            out |= flags[flag].astype(bool)
        if self.exclude_simulated and simulated is not None:
            out |= simulated.astype(bool)
        if self.extra_excluded_ids:
            out |= flags.index.isin(self.extra_excluded_ids)
        return out


def speeders(durations: pd.Series, share: float) -> pd.Series:
    """True where the completion time is under ``share`` of the median completion time.

    Missing durations are never flagged: no paradata is no evidence of speeding.
    """
    median = durations.median()
    if pd.isna(median):
        return pd.Series(False, index=durations.index)
    return (durations < share * median).fillna(False).astype(bool)


def straightliners(answers: pd.DataFrame, grids: Mapping[str, Sequence[str]], min_items: int = 3) -> pd.Series:
    """True where, on any grid of at least ``min_items`` answered items, every item has the same answer."""
    flagged = pd.Series(False, index=answers.index)
    for items in grids.values():
        columns = [item for item in items if item in answers.columns]
        if len(columns) < min_items:
            continue
        block = answers[columns]
        answered = block.notna().sum(axis=1)
        distinct = block.nunique(axis=1, dropna=True)
        flagged |= (answered >= min_items) & (answered == len(columns)) & (distinct == 1)
    return flagged


def failed_attention(answers: pd.DataFrame, checks: Mapping[str, Collection[str]]) -> pd.Series:
    """True where any attention check was answered with something other than an accepted answer.

    A check left unanswered counts as failed: the question asked for a specific answer.
    """
    failed = pd.Series(False, index=answers.index)
    for code, accepted in checks.items():
        if code not in answers.columns:
            continue
        failed |= ~answers[code].isin(list(accepted))
    return failed


def answer_pattern(answers: pd.DataFrame) -> pd.Series:
    """A fingerprint of each row's answers (equal rows, equal fingerprints), for spotting identical submissions."""
    ordered = answers.reindex(sorted(answers.columns), axis=1).astype(str)
    return pd.util.hash_pandas_object(ordered, index=False).astype(object)


def duplicates(
    answers: pd.DataFrame,
    user_agent_hash: pd.Series,
    completed_at: pd.Series,
    window_minutes: float,
) -> pd.Series:
    """True for a response completed within ``window_minutes`` after an earlier one from the
    same browser (user-agent hash) with an identical answer pattern; the earliest is kept."""
    flagged = pd.Series(False, index=answers.index)
    if answers.empty:
        return flagged
    frame = pd.DataFrame(
        {"agent": user_agent_hash, "pattern": answer_pattern(answers), "at": pd.to_datetime(completed_at, utc=True)}
    ).dropna(subset=["agent", "at"])
    window = pd.Timedelta(minutes=window_minutes)
    frame = frame.sort_values(["agent", "pattern", "at"], kind="stable")
    gaps = frame.groupby(["agent", "pattern"], sort=False)["at"].diff()
    flagged.loc[gaps.index[gaps <= window]] = True
    return flagged


def quality_flags(
    answers: pd.DataFrame,
    durations: pd.Series,
    user_agent_hash: pd.Series,
    completed_at: pd.Series,
    rules: ExclusionRules,
    grids: Mapping[str, Sequence[str]] | None = None,
    attention_checks: Mapping[str, Collection[str]] | None = None,
) -> pd.DataFrame:
    """Every flag for every response, one boolean column per name in ``FLAGS``."""
    return pd.DataFrame(
        {
            "speeder": speeders(durations, rules.speeder_share),
            "straightliner": straightliners(answers, grids or {}, rules.straightline_min_items),
            "attention_failed": failed_attention(answers, attention_checks or {}),
            "duplicate": duplicates(answers, user_agent_hash, completed_at, rules.duplicate_window_minutes),
        },
        index=answers.index,
    )
