"""Reference data shipped with the package: weighting targets for California adults and for
California registered voters, and the published poll figures this survey is compared with.

Both are YAML files in ``survey/data/`` so that a reviewer reads every figure beside its source,
vintage and arithmetic, and a maintainer updates a figure without touching code
(``docs/targets.md`` explains each one). This module reads them into frozen dataclasses and
refuses a file whose shares do not add up, whose codes are empty, or whose unconfirmed figures
do not say what they rest on, naming the variable or figure at fault.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Optional

import yaml

from marshmallow import fields, post_load, validates_schema

from survey.documents import DocumentSchema, Field, Items, Nested, ValidationError, problems
from survey.weighting.targets import Targets

DATA_DIR = Path(__file__).resolve().parents[1] / "data"  # survey/data: shipped beside the package
DEFAULT_TARGETS_FILE = DATA_DIR / "california_adult_targets.yaml"
REGISTERED_VOTER_TARGETS_FILE = DATA_DIR / "california_registered_voter_targets.yaml"
PUBLISHED_FIGURES_FILE = DATA_DIR / "published_figures.yaml"

#: Target shares of one variable must sum to 1 within this.
SHARE_TOLERANCE = 1e-6
#: A share may differ from its count / denominator by less than one unit of the 6th decimal:
#: largest-remainder rounding (which makes the shares sum to 1) moves a share by up to that.
COUNT_ROUNDING = 1e-6
#: Published shares are rounded to whole percentages, so a full distribution may sum to 0.99-1.01.
PUBLISHED_ROUNDING = 0.015

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: 10x faster


class ReferenceDataError(ValueError):
    """A reference data file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Source:
    """Where a figure was read (``url``) and, when different, the agency that produced it."""

    title: str
    url: Optional[str] = None
    table: Optional[str] = None
    vintage: Optional[str] = None
    primary_url: Optional[str] = None
    also: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "url": self.url, "table": self.table, "vintage": self.vintage,
                "primary_url": self.primary_url, "also": list(self.also)}


@dataclass(frozen=True)
class VariableTarget:
    """Population shares of one weighting variable, with their provenance.

    ``confirmed`` is true when the counts were read in ``source``; otherwise ``assumption`` says
    what the shares rest on. ``optional`` targets are left out of the default margins: they
    describe another population (party registration among adults) or rest on an assumption
    too weak to weight by default (education of registered voters).
    """

    variable: str
    label: str
    shares: Mapping[str, float]
    source: Source
    computed: str
    confirmed: bool
    universe: str = ""
    counts: Optional[Mapping[str, int]] = None
    denominator: Optional[int] = None
    assumption: Optional[str] = None
    note: Optional[str] = None
    optional: bool = False
    as_of: Optional[str] = None
    counties: Optional[Mapping[str, tuple[str, ...]]] = None

    @property
    def flag(self) -> str:
        """``assumption`` when not confirmed; ``computed`` when the shares are derived from the
        counts given beside them; ``confirmed`` when read, as shares, in the source."""
        if not self.confirmed:
            return "assumption"
        return "computed" if self.counts else "confirmed"

    @property
    def source_text(self) -> str:
        """One line for a methodology statement: the source, its vintage, and whether confirmed."""
        if not self.confirmed:
            return f"Assumption, not an official figure: {self.assumption}"
        text = self.source.title + (f", {self.source.table}" if self.source.table else "")
        return text + (f" ({self.source.vintage})" if self.source.vintage else "")


@dataclass(frozen=True)
class DefaultTargets:
    """The shipped weighting targets: one :class:`VariableTarget` per variable."""

    name: str
    universe: str
    population: float
    population_source: Source
    caveat: str
    variables: tuple[VariableTarget, ...]
    universe_name: str = ""  # short, compared with a survey's ``universe``: "California registered voters"

    def variable(self, name: str) -> VariableTarget:
        for target in self.variables:
            if target.variable == name:
                return target
        raise KeyError(f"the default targets have no variable `{name}`")

    def margins(self, include_optional: bool = False) -> dict[str, dict[str, float]]:
        """variable -> level -> share, as ``analysis.rake`` takes them (fresh dicts)."""
        return {t.variable: dict(t.shares) for t in self.variables if include_optional or not t.optional}

    def to_targets(self, include_optional: bool = False) -> Targets:
        """These targets as the site's editable :class:`survey.weighting.targets.Targets`, each
        variable with its source, flag and label, and the optional ones marked as such."""
        margins = self.margins(include_optional)
        chosen = [t for t in self.variables if t.variable in margins]
        return Targets(
            margins=margins,
            population=self.population,
            sources={t.variable: t.source_text for t in chosen},
            name=self.name,
            universe=self.universe_name or None,
            flags={t.variable: t.flag for t in chosen},
            labels={t.variable: t.label for t in chosen},
            optional=tuple(t.variable for t in chosen if t.optional),
        )


@dataclass(frozen=True)
class FigureGroup:
    """A published combined figure, e.g. "41% likely" = very + somewhat likely."""

    label: str
    categories: tuple[str, ...]
    share: float


@dataclass(frozen=True)
class PublishedFigure:
    """A published poll result with what a reader needs to judge a comparison.

    ``results`` are the figures in the pollster's own categories; ``shares`` the same figures on
    our option codes of ``question``, given only where the categories correspond, so only those
    figures are tested (:attr:`testable`), and only when the figure is ``confirmed``.
    """

    id: str
    pollster: str
    population: str
    field_dates: str
    wording: str
    results: Mapping[str, float]
    source: Source
    confirmed: bool
    caveat: str
    question: Optional[str] = None
    shares: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    groups: tuple[FigureGroup, ...] = ()
    wording_confirmed: bool = False
    primary_source_seen: bool = False
    field_start: Optional[dt.date] = None
    field_end: Optional[dt.date] = None
    released: Optional[dt.date] = None
    n: Optional[int] = None
    moe: Optional[str] = None
    mode: Optional[str] = None

    @property
    def testable(self) -> bool:
        """Whether our estimate can be tested against it: its numbers were read in a named source
        (a figure with no primary source is context, never a test) and its categories map onto ours."""
        return self.confirmed and self.question is not None and bool(self.shares or self.groups)

    @property
    def complete(self) -> bool:
        """Whether ``shares`` is a whole answer distribution (for a goodness-of-fit test)."""
        return len(self.shares) > 1 and abs(sum(self.shares.values()) - 1) <= PUBLISHED_ROUNDING

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "pollster": self.pollster, "population": self.population,
            "field_dates": self.field_dates,
            "field_start": self.field_start.isoformat() if self.field_start else None,
            "field_end": self.field_end.isoformat() if self.field_end else None,
            "released": self.released.isoformat() if self.released else None,
            "n": self.n, "moe": self.moe, "mode": self.mode,
            "wording": self.wording, "wording_confirmed": self.wording_confirmed,
            "question": self.question, "results": dict(self.results), "shares": dict(self.shares),
            "groups": [{"label": g.label, "categories": list(g.categories), "share": g.share} for g in self.groups],
            "source": self.source.to_dict(), "primary_source_seen": self.primary_source_seen,
            "confirmed": self.confirmed, "caveat": self.caveat,
            "testable": self.testable, "complete": self.complete,
        }


# --------------------------------------------------------------------------- reading


class _Text(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must be a non-empty text")
        return value.strip()


class _Flag(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"must be true or false, not {value!r}")
        return value


class _Positive(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValidationError(f"must be a positive number, not {value!r}")
        return value


class _Date(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> dt.date:
        if not isinstance(value, dt.date):
            raise ValidationError(f"must be a date written YYYY-MM-DD, not {value!r}")
        return value


def _fraction(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value <= 1


class _Fraction(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> float:
        if not _fraction(value):
            raise ValidationError(f"must be a number from 0 to 1, not {value!r}")
        return float(value)


class _Shares(Field):
    """``{code: share}``: text codes (YAML's bare yes/no would be booleans), shares from 0 to 1."""

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> dict[str, float]:
        if not isinstance(value, Mapping) or not value:
            raise ValidationError("must map each code to a share")
        errors: dict[Any, list[str]] = {}
        for code, share in value.items():
            if isinstance(code, bool):
                errors.setdefault("_schema", []).append(
                    f'has the code {code!r}; quote codes such as "yes" and "no" in YAML')
            elif not isinstance(code, str) or not code.strip():
                errors.setdefault("_schema", []).append(f"has an empty or non-text code {code!r}")
            elif not _fraction(share):
                errors[code] = [f"share of `{code}` is {share!r}, not a number from 0 to 1"]
        if errors:
            raise ValidationError(errors)
        return {code: float(share) for code, share in value.items()}


class _Counts(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> dict[str, int]:
        if not isinstance(value, Mapping) or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in value.values()):
            raise ValidationError("must give a whole number of people for each code")
        return {str(code): count for code, count in value.items()}


class _Counties(Field):
    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, Mapping) or not all(isinstance(names, list) for names in value.values()):
            raise ValidationError("must list the counties of each code")
        seen: dict[str, str] = {}
        for code, names in value.items():
            for name in names:
                if name in seen:
                    raise ValidationError(f"county {name} is in both `{seen[name]}` and `{code}`")
                seen[name] = code
        return {str(code): tuple(names) for code, names in value.items()}


class _SourceSchema(DocumentSchema):
    title = _Text(required=True)
    url = _Text(load_default=None)
    table = _Text(load_default=None)
    vintage = _Text(load_default=None)
    primary_url = _Text(load_default=None)
    also = Items(fields.String(), "addresses", fewest=0, load_default=())

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> Source:
        return Source(**{**data, "also": tuple(data["also"])})


class _VariableTargetSchema(DocumentSchema):
    """One variable's targets; its name (the key above it) is given to the schema."""

    label = _Text(required=True)
    shares = _Shares(required=True)
    source = Nested(_SourceSchema, required=True)
    computed = _Text(required=True)
    confirmed = _Flag(required=True)
    counts = _Counts(load_default=None)
    denominator = _Positive(load_default=None)
    universe = _Text(load_default=None)
    assumption = _Text(load_default=None)
    note = _Text(load_default=None)
    optional = _Flag(load_default=False)
    as_of = fields.Raw(load_default=None)
    counties = _Counties(load_default=None)

    def __init__(self, variable: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.variable = variable

    @validates_schema
    def _adds_up(self, data: dict, **kwargs: Any) -> None:
        """Shares sum to 1, follow from their counts, and an unconfirmed share says what it rests on."""
        variable, shares = self.variable, data["shares"]
        total = sum(shares.values())
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValidationError(f"target shares for `{variable}` sum to {total:.6g}, not 1", "shares")
        if not data["confirmed"] and not data["assumption"]:
            raise ValidationError(
                f"`{variable}` is confirmed: false, so it needs an `assumption` saying what its shares rest on")
        if data["confirmed"] and not data["source"].url:
            raise ValidationError(f"`{variable}` is confirmed: true but its source has no `url`", "source")
        for key in ("counts", "counties"):
            if data[key] is not None and set(data[key]) != set(shares):
                raise ValidationError(f"must give one entry for each code of the shares of `{variable}`", key)
        counts = data["counts"] or {}
        denominator = data["denominator"] or sum(counts.values())
        for code, count in counts.items():
            if abs(count / denominator - shares[code]) >= COUNT_ROUNDING:
                raise ValidationError({code: [
                    f"share of `{variable}` = `{code}` is {shares[code]}, but its count gives "
                    f"{count:,} / {denominator:,} = {count / denominator:.7f}"]}, "counts")

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> VariableTarget:
        counts, counties, as_of = data["counts"], data["counties"], data["as_of"]
        return VariableTarget(**{
            **data, "variable": self.variable, "shares": MappingProxyType(data["shares"]),
            "universe": data["universe"] or "",
            "counts": None if counts is None else MappingProxyType(counts),
            "denominator": None if counts is None else int(data["denominator"] or sum(counts.values())),
            "as_of": None if as_of is None else str(as_of),
            "counties": None if counties is None else MappingProxyType(counties),
        })


class _Variables(Field):
    """``{variable: its targets}``, each read by :class:`_VariableTargetSchema`."""

    def _deserialize(self, value: Any, attr: Optional[str], data: Any, **kwargs: Any) -> tuple[VariableTarget, ...]:
        if not isinstance(value, Mapping) or not value:
            raise ValidationError("must map each weighting variable to its targets")
        errors: dict[Any, Any] = {}
        variables = []
        for name, entry in value.items():
            if not isinstance(name, str) or not name.strip():
                errors.setdefault("_schema", []).append(f"a weighting variable has an empty or non-text name {name!r}")
                continue
            try:
                variables.append(_VariableTargetSchema(name).load(entry))
            except ValidationError as error:
                errors[name] = error.messages
        if errors:
            raise ValidationError(errors)
        return tuple(variables)


class _DefaultTargetsSchema(DocumentSchema):
    name = _Text(required=True)
    universe = _Text(required=True)
    population = _Positive(required=True)
    population_source = Nested(_SourceSchema, required=True)
    variables = _Variables(required=True)
    caveat = _Text(load_default=None)
    universe_name = _Text(load_default=None)

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> DefaultTargets:
        return DefaultTargets(**{**data, "population": float(data["population"]),
                                 "caveat": data["caveat"] or "", "universe_name": data["universe_name"] or ""})


def _load(schema: DocumentSchema, path: Path) -> Any:
    """The file read by ``schema``; every problem is named with the file and its place in it."""
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (OSError, yaml.YAMLError) as error:
        raise ReferenceDataError(f"{path.name} cannot be read: {error}") from None
    try:
        return schema.load(document)
    except ValidationError as error:
        raise ReferenceDataError("\n".join(f"{path.name}: {line}" for line in problems(error))) from None


def load_default_targets(path: Path | str = DEFAULT_TARGETS_FILE) -> DefaultTargets:
    """Read and check a targets file in the format of ``survey/data/california_adult_targets.yaml``.

    Raises
    ------
    ReferenceDataError
        Naming the file and the place of each problem: shares that do not sum to 1, an empty
        code, a share that does not follow from its count, an unconfirmed target without an assumption.
    """
    return _load(_DefaultTargetsSchema(), Path(path))


@lru_cache(maxsize=1)
def default_targets() -> DefaultTargets:
    """The shipped California adult targets, read once."""
    return load_default_targets()


def california_adult_targets(include_optional: bool = False) -> Targets:
    """The shipped targets as the site's :class:`~survey.weighting.targets.Targets` (a fresh, editable copy).

    Party registration describes registered voters, not adults, so it is included only when
    asked for.
    """
    return default_targets().to_targets(include_optional)


@lru_cache(maxsize=1)
def registered_voter_targets() -> DefaultTargets:
    """The shipped California registered-voter targets, read once."""
    return load_default_targets(REGISTERED_VOTER_TARGETS_FILE)


def california_registered_voter_targets(include_optional: bool = False) -> Targets:
    """The registered-voter targets as the site's :class:`~survey.targets.Targets` (a fresh copy).

    Education of registered voters has no source, so it is included only when asked for.
    """
    return registered_voter_targets().to_targets(include_optional)


# --------------------------------------------------------------------------- published figures


class _GroupSchema(DocumentSchema):
    label = _Text(required=True)
    categories = Items(_Text(), "answer codes", required=True)
    share = _Fraction(required=True)

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> FigureGroup:
        return FigureGroup(**{**data, "categories": tuple(data["categories"])})


class _FigureSchema(DocumentSchema):
    id = _Text(required=True)
    pollster = _Text(required=True)
    population = _Text(required=True)
    field_dates = _Text(required=True)
    wording = _Text(required=True)
    results = _Shares(required=True)
    source = Nested(_SourceSchema, required=True)
    confirmed = _Flag(required=True)
    caveat = _Text(required=True)
    question = _Text(load_default=None)
    shares = _Shares(load_default=dict, allow_none=True)
    groups = Items(Nested(_GroupSchema), "groups", fewest=0, load_default=())
    wording_confirmed = _Flag(load_default=False)
    primary_source_seen = _Flag(load_default=False)
    field_start = _Date(load_default=None)
    field_end = _Date(load_default=None)
    released = _Date(load_default=None)
    n = _Positive(load_default=None)
    moe = _Text(load_default=None)
    mode = _Text(load_default=None)

    @validates_schema
    def _consistent(self, data: dict, **kwargs: Any) -> None:
        shares = data["shares"] or {}
        if (shares or data["groups"]) and data["question"] is None:
            raise ValidationError("`shares` and `groups` need the `question` they refer to")
        if sum(shares.values()) > 1 + PUBLISHED_ROUNDING:
            raise ValidationError(f"shares sum to {sum(shares.values()):.3f}, more than 1", "shares")
        if data["confirmed"] and not data["source"].url:
            raise ValidationError("confirmed: true but its source has no `url`", "source")
        start, end = data["field_start"], data["field_end"]
        if start and end and start > end:
            raise ValidationError(f"field_start {start} is after field_end {end}")
        if data["n"] is not None and data["n"] != int(data["n"]):
            raise ValidationError(f"must be a whole number of respondents, not {data['n']}", "n")

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> PublishedFigure:
        return PublishedFigure(**{
            **data, "results": MappingProxyType(data["results"]),
            "shares": MappingProxyType(data["shares"] or {}), "groups": tuple(data["groups"]), "n": None if data["n"] is None else int(data["n"]),
        })


class _FiguresSchema(DocumentSchema):
    figures = Items(Nested(_FigureSchema), "figures", required=True)

    @validates_schema
    def _unique(self, data: dict, **kwargs: Any) -> None:
        ids = [figure.id for figure in data["figures"]]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValidationError(f"figure id(s) {', '.join(duplicated)} appear more than once", "figures")

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> tuple[PublishedFigure, ...]:
        return tuple(data["figures"])


def load_published_figures(path: Path | str = PUBLISHED_FIGURES_FILE) -> tuple[PublishedFigure, ...]:
    """Read and check a file in the format of ``survey/data/published_figures.yaml``.

    Raises
    ------
    ReferenceDataError
        Naming the file and the place of each problem: a missing source, population or dates,
        a share outside 0-1, a duplicate id, shares without the question they refer to.
    """
    return _load(_FiguresSchema(), Path(path))


@lru_cache(maxsize=1)
def _shipped_figures() -> tuple[PublishedFigure, ...]:
    return load_published_figures()


def published_figures(question: Optional[str] = None) -> tuple[PublishedFigure, ...]:
    """The shipped published figures, optionally only those set beside ``question``."""
    return tuple(f for f in _shipped_figures() if question is None or f.question == question)
