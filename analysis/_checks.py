"""Argument checks shared by the public functions: a bad choice is a ValueError naming it."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd


def check_choice(argument: str, value: object, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; otherwise raise a ValueError naming it."""
    allowed = tuple(allowed)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{argument}={value!r} is not one of {choices}")
    return value  # type: ignore[return-value]


def check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level={level!r} must be between 0 and 1 (e.g. 0.95)")
    return float(level)


def column(data: pd.DataFrame, name: str, role: str) -> pd.Series:
    """The column ``name`` of ``data``, or a ValueError saying which role asked for it."""
    if name not in data.columns:
        raise ValueError(f"{role} `{name}` is not a column of the data")
    return data[name]
