"""A run as ``analysis`` reads it: the data file (one row per respondent) and the spec beside it.

These are byte for byte the files a pollster downloads, so ``python -m analysis run`` on the
downloads gives the numbers the site shows."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import pandas as pd
import yaml

from analysis.export import neutralize_frame
from survey.questionnaires.model import OPTION_SEPARATOR, Question
from survey.responses.dataset import ResponseData
from survey.weighting.settings import WeightingSettings

DATA_FILE = "data.csv"
ID_COLUMN = "respondent_id"


def analysis_frame(data: ResponseData, variables: Mapping[str, str]) -> pd.DataFrame:
    """The data file of a run: respondent id, every analysable answer, the interview language,
    and each weighting variable under its own name (a copy of its question's column)."""
    frame = data.included.reset_index()
    for variable, code in variables.items():
        if variable not in frame.columns and code in frame.columns:
            frame[variable] = frame[code]
    return frame


def data_csv(frame: pd.DataFrame) -> bytes:
    """The data file as written for ``python -m analysis run`` (and downloaded beside the spec)."""
    return neutralize_frame(frame).to_csv(index=False, lineterminator="\n").encode("utf-8")


def estimate_specs(
    questions: Sequence[Question], interval: str, by: Optional[str] = None, level: float = 0.95
) -> list[dict[str, Any]]:
    """One estimate per option of every closed question (and a mean per numeric one); screening
    questions and attention checks are left out: they measure eligibility and care, not opinion."""
    estimates = []
    for question in questions:
        if question.screener or question.attention_check:
            continue
        extra = {"by": by} if by and by != question.code else {}
        if question.multiple:
            for option in question.options:
                column = f"{question.code}{OPTION_SEPARATOR}{option.code}"
                estimates.append({"id": column, "variable": column, "type": "proportion", "categories": [1],
                                  "ci": interval, "level": level, **extra})
        elif question.closed:
            answers = [(o.code, [o.code]) for o in question.options] + [(n.code, list(n.answers)) for n in question.nets]
            for code, categories in answers:  # a net is a share like any answer, of several categories
                estimates.append({"id": f"{question.code}={code}", "variable": question.code,
                                  "type": "proportion", "categories": categories, "ci": interval,
                                  "level": level, **extra})
        elif question.numeric:
            estimates.append({"id": f"{question.code}:mean", "variable": question.code, "type": "mean",
                              "ci": "mean", "level": level, **extra})
    return estimates


def build_spec(
    settings: WeightingSettings, n: int, estimates: list[dict[str, Any]], data_file: str = DATA_FILE
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "data": data_file,
        "design": {},
        "weighting": settings.weighting_spec(n),
        "variance": {"method": settings.variance},
        "estimates": estimates,
    }
    return spec


def spec_yaml(spec: Mapping[str, Any], header: str = "") -> str:
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True)
