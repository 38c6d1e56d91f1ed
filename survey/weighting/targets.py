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
from marshmallow import post_load

from analysis.export import csv_text
from survey.documents import DocumentSchema, Field, ValidationError, problems
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


def _share(text: Any) -> float:
    """A share as written: 0.505 or "50.5%"."""
    try:
        value = float(str(text).strip().rstrip("%")) / (100 if str(text).strip().endswith("%") else 1)
    except ValueError:
        raise ValueError(f"share {_shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"share {_shown(text)} is not a finite number")
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
        try:
            levels[level] = _share(row.get("share"))
        except ValueError as error:
            raise TargetsFileError(f"line {line}: {error}") from None
        if (row.get("source") or "").strip():
            sources[variable] = row["source"].strip()
    if not margins:
        raise TargetsFileError("the CSV has a header but no target rows")
    return Targets(margins=margins, sources=sources, name="Uploaded targets")


class _Text(Field):
    """A source or name: a short text (a number is read as its digits), never a structure."""

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError(f"must be a text, not {type(value).__name__}")
        if len(str(value)) > MAX_TEXT_LENGTH:
            raise ValidationError(f"is longer than {MAX_TEXT_LENGTH} characters")
        return str(value)


class _Share(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> float:
        try:
            return _share(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


class _Margins(Field):
    """``{variable: {level: share}}``, each share at its place (``margins.sex.female``)."""

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> dict[str, dict[str, float]]:
        if not isinstance(value, Mapping) or not value:
            raise ValidationError("must map each variable to a mapping of level -> share")
        margins: dict[str, dict[str, float]] = {}
        errors: dict[str, Any] = {}
        for variable, levels in value.items():
            if not isinstance(levels, Mapping) or not levels:
                errors[str(variable)] = [f"must be a mapping of level -> share, not {_shown(levels)}"]
                continue
            margins[str(variable)] = {}
            for level, share in levels.items():
                try:
                    margins[str(variable)][str(level)] = _share(share)
                except ValueError as error:
                    errors.setdefault(str(variable), {})[str(level)] = [str(error)]
        if errors:
            raise ValidationError(errors)
        return margins


class _Sources(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise ValidationError("must map each variable to a text naming its source")
        text, sources, errors = _Text(), {}, {}
        for variable, source in value.items():
            try:
                sources[str(variable)] = text.deserialize(source)
            except ValidationError as error:
                errors[str(variable)] = error.messages
        if errors:
            raise ValidationError(errors)
        return sources


class _Universe(_Text):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must name the population the targets describe, e.g. California adults")
        return " ".join(super()._deserialize(value, attr, data, **kwargs).split())


class _TargetsSchema(DocumentSchema):
    margins = _Margins(required=True)
    population = _Share(load_default=None)
    sources = _Sources(load_default=dict, allow_none=True)
    name = _Text(load_default=None)
    universe = _Universe(load_default=None)

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> Targets:
        return Targets(**{**data, "sources": data["sources"] or {}, "name": data["name"] or "Uploaded targets"})


_SETTINGS = ("population", "sources", "name", "universe")


def parse_yaml(text: str) -> Targets:
    """Read ``{margins: {variable: {level: share}}, population: N, sources: {...}}`` or just the margins.

    Every problem is reported at once, with its place (``margins.sex.female: share 'half' is
    not a number``). Aliases, deep nesting and large documents are refused (``survey.safe_yaml``).
    """
    try:
        document = load_untrusted(text)
    except yaml.YAMLError as error:
        raise TargetsFileError(f"the YAML cannot be read: {error}") from None
    if not isinstance(document, Mapping):
        raise TargetsFileError("the YAML must be a mapping of variable -> level -> share (or have a `margins` key)")
    if "margins" not in document:  # just the margins, perhaps beside the settings
        document = {"margins": {k: v for k, v in document.items() if k not in _SETTINGS},
                    **{k: v for k, v in document.items() if k in _SETTINGS}}
    try:
        return _TargetsSchema().load(document)
    except ValidationError as error:
        raise TargetsFileError("; ".join(problems(error))) from None


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
