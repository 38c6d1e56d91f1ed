"""Weighting targets as the pollster sees them: population shares per variable and level.

The defaults ship with the package (``survey.weighting.reference_data``); a pollster replaces them by
uploading a CSV (``variable,level,share[,source]``) or a YAML mapping, or edits them in a
form. Parsing here only reads the file; whether the shares make sense is checked by the
analysis module itself (``survey.weighting.runs.check_targets``), so the pollster reads
exactly the message the statistics would raise.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import yaml

from analysis.export import csv_text
from survey.safe_yaml import load_untrusted

MAX_TEXT_LENGTH = 500  # a source or a name: a citation, not a document


def _shown(value: Any) -> str:
    """A value quoted in an error message, cut short: the message must stay readable whatever was sent."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class TargetsFileError(ValueError):
    """An uploaded targets file that cannot be read; the message names the line or key."""


@dataclass(frozen=True)
class Targets:
    """Shares of the population per level of each weighting variable, with their sources.

    ``margins`` maps variable -> level -> share (each variable's shares should sum to 1);
    ``population`` is the population size the weights are scaled to (None: the sample size);
    ``sources`` maps variable -> where its figures come from, shown in the methodology;
    ``universe`` names the population the targets describe (None: not stated), compared with
    the survey's; ``flags`` maps variable -> confirmed / computed / assumption, ``labels``
    variable -> its name for people, and ``optional`` lists the variables not weighted by default.
    """

    margins: dict[str, dict[str, float]]
    population: Optional[float] = None
    sources: dict[str, str] = field(default_factory=dict)
    name: str = "Targets"
    universe: Optional[str] = None
    flags: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    optional: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "universe": self.universe,
            "population": self.population,
            "margins": {variable: dict(levels) for variable, levels in self.margins.items()},
            "sources": dict(self.sources),
            "flags": dict(self.flags),
            "labels": dict(self.labels),
            "optional": list(self.optional),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Targets":
        return cls(
            margins={str(v): {str(level): float(share) for level, share in levels.items()} for v, levels in data["margins"].items()},
            population=None if data.get("population") is None else float(data["population"]),
            sources={str(k): str(v) for k, v in (data.get("sources") or {}).items()},
            name=str(data.get("name") or "Targets"),
            universe=data.get("universe") or None,
            flags={str(k): str(v) for k, v in (data.get("flags") or {}).items()},
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            optional=tuple(str(v) for v in data.get("optional") or ()),
        )

    def only(self, variables: Iterable[str]) -> "Targets":
        """These targets restricted to ``variables`` (in that order)."""
        variables = [v for v in variables if v in self.margins]
        return replace(
            self,
            margins={v: self.margins[v] for v in variables},
            sources={v: s for v, s in self.sources.items() if v in variables},
            flags={v: f for v, f in self.flags.items() if v in variables},
            labels={v: label for v, label in self.labels.items() if v in variables},
            optional=tuple(v for v in self.optional if v in variables),
        )

    def merged(self, merges: Mapping[str, Mapping[str, str]]) -> "Targets":
        """These targets with each level ``merges[variable][level]`` folded into the level it names:
        its share is added there, so the variable still sums to 1."""
        margins = {variable: dict(levels) for variable, levels in self.margins.items()}
        for variable, pairs in merges.items():
            for level, into in pairs.items():
                margins[variable][into] += margins[variable].pop(level)
        return replace(self, margins=margins)

    @property
    def default_variables(self) -> list[str]:
        """The variables weighted unless the pollster chooses otherwise: all but the optional ones."""
        return [v for v in self.margins if v not in self.optional]

    def label(self, variable: str) -> str:
        return self.labels.get(variable, variable)

    def to_csv(self) -> str:
        rows = ((variable, level, share, self.sources.get(variable, ""))
                for variable, levels in self.margins.items() for level, share in levels.items())
        return csv_text(rows, ["variable", "level", "share", "source"])


def universes_differ(survey_universe: Optional[str], targets_universe: Optional[str]) -> bool:
    """True when both are stated and name different populations (case and spacing aside)."""
    if not survey_universe or not targets_universe:
        return False
    return " ".join(survey_universe.casefold().split()) != " ".join(targets_universe.casefold().split())


def _share(text: Any, where: str) -> float:
    try:
        value = float(str(text).strip().rstrip("%")) / (100 if str(text).strip().endswith("%") else 1)
    except ValueError:
        raise TargetsFileError(f"{where}: share {_shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise TargetsFileError(f"{where}: share {_shown(text)} is not a finite number")
    return value


def parse_csv(text: str) -> Targets:
    """Read ``variable,level,share[,source]`` rows (a header row is required)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"variable", "level", "share"} - set(reader.fieldnames or [])
    if missing:
        raise TargetsFileError(
            f"the CSV header must name the columns variable, level and share (missing: {', '.join(sorted(missing))})"
        )
    margins: dict[str, dict[str, float]] = {}
    sources: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        variable, level = (row.get("variable") or "").strip(), (row.get("level") or "").strip()
        if not variable or not level:
            raise TargetsFileError(f"line {line}: variable and level must both be filled in")
        levels = margins.setdefault(variable, {})
        if level in levels:
            raise TargetsFileError(f"line {line}: level {level!r} of {variable!r} appears twice")
        levels[level] = _share(row.get("share"), f"line {line}")
        if (row.get("source") or "").strip():
            sources[variable] = row["source"].strip()
    if not margins:
        raise TargetsFileError("the CSV has a header but no target rows")
    return Targets(margins=margins, sources=sources, name="Uploaded targets")


def _text(value: Any, where: str) -> str:
    """A source or name: a short text (a number is read as its digits), never a structure."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise TargetsFileError(f"{where} must be a text, not {type(value).__name__}")
    if len(str(value)) > MAX_TEXT_LENGTH:
        raise TargetsFileError(f"{where} is longer than {MAX_TEXT_LENGTH} characters")
    return str(value)


def parse_yaml(text: str) -> Targets:
    """Read ``{margins: {variable: {level: share}}, population: N, sources: {...}}`` or just the margins.

    Aliases, deep nesting and large documents are refused (``survey.safe_yaml``).
    """
    try:
        document = load_untrusted(text)
    except yaml.YAMLError as error:
        raise TargetsFileError(f"the YAML cannot be read: {error}") from None
    if not isinstance(document, Mapping):
        raise TargetsFileError("the YAML must be a mapping of variable -> level -> share (or have a `margins` key)")
    margins = document.get("margins", document)
    if not isinstance(margins, Mapping) or not margins:
        raise TargetsFileError("`margins` must map each variable to a mapping of level -> share")
    parsed: dict[str, dict[str, float]] = {}
    for variable, levels in margins.items():
        if variable in ("population", "sources", "name", "universe") and margins is document:
            continue
        if not isinstance(levels, Mapping) or not levels:
            raise TargetsFileError(f"margins of {_shown(variable)} must be a mapping of level -> share")
        parsed[str(variable)] = {str(level): _share(share, f"{variable}.{level}") for level, share in levels.items()}
    population = document.get("population")
    if population is not None:
        population = _share(population, "population")
    sources = document.get("sources") or {}
    if not isinstance(sources, Mapping):
        raise TargetsFileError("`sources` must map each variable to a text naming its source")
    universe = document.get("universe")
    if universe is not None and (not isinstance(universe, str) or not universe.strip()):
        raise TargetsFileError("`universe` must name the population the targets describe, e.g. California adults")
    return Targets(margins=parsed, population=population,
                   sources={str(k): _text(v, f"the source of {_shown(k)}") for k, v in sources.items()},
                   name=_text(document.get("name") or "Uploaded targets", "`name`"),
                   universe=" ".join(_text(universe, "`universe`").split()) if universe else None)


def parse_upload(filename: str, content: bytes) -> Targets:
    """Parse an uploaded targets file by its extension (.csv, .yaml, .yml)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise TargetsFileError(f"{filename} is not UTF-8 text") from None
    lower = filename.lower()
    if lower.endswith(".csv"):
        return parse_csv(text)
    if lower.endswith((".yaml", ".yml")):
        return parse_yaml(text)
    raise TargetsFileError(f"{filename}: upload a .csv or .yaml file")
