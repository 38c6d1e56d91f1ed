"""Answers as text, spelled as R writes them, so categories and levels match R's.

R reads a CSV column of ``TRUE``/``FALSE`` as logical and ``as.character()`` writes it back as
``"TRUE"``; a whole number stored as a double is written ``"1"``, not ``"1.0"``. Categories,
domain names, weighting levels and model terms all go through :func:`r_text`, so a spec names
an answer the way the data (as R reads it) spells it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def r_text(value: object) -> str:
    """``as.character(value)`` in R: ``TRUE``/``FALSE``, ``1`` for 1.0, 15 significant digits."""
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() else f"{number:.15g}"
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def text_codes(series: pd.Series, sort: bool = False) -> tuple[np.ndarray, np.ndarray, list]:
    """(code of each row, -1 when missing; the distinct answers as text; the answers as stored).

    Each distinct answer is converted once, so a million rows cost one hash pass.
    """
    codes, uniques = pd.factorize(series, sort=sort)
    values = list(uniques)
    return codes, np.array([r_text(v) for v in values], dtype=object), values
