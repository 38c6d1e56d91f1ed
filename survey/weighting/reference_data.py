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
    figures are tested (:attr:`testable`).
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
        """Whether our estimate can be tested against it (its categories map onto ours)."""
        return self.question is not None and bool(self.shares or self.groups)

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


class _Reader:
    """Typed access to one YAML mapping; every error names the file and the entry."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, Mapping):
            raise ReferenceDataError(f"{where} must be a mapping, not {type(data).__name__}")
        self.data, self.where = data, where

    def check_keys(self, required: set[str], optional: set[str]) -> None:
        missing = sorted(required - set(self.data))
        if missing:
            raise ReferenceDataError(f"{self.where} lacks {', '.join(f'`{k}`' for k in missing)}")
        unknown = sorted(str(k) for k in set(self.data) - required - optional)
        if unknown:
            raise ReferenceDataError(f"{self.where} has unknown key(s) {', '.join(f'`{k}`' for k in unknown)}")

    def text(self, key: str, required: bool = True) -> Optional[str]:
        value = self.data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ReferenceDataError(f"{self.where}: `{key}` must be a non-empty text")
        return value.strip()

    def flag(self, key: str, default: Optional[bool] = None) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ReferenceDataError(f"{self.where}: `{key}` must be true or false, not {value!r}")
        return value

    def number(self, key: str, required: bool = True) -> Optional[float]:
        value = self.data.get(key)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ReferenceDataError(f"{self.where}: `{key}` must be a positive number, not {value!r}")
        return value

    def date(self, key: str) -> Optional[dt.date]:
        value = self.data.get(key)
        if value is None or isinstance(value, dt.date):
            return value
        raise ReferenceDataError(f"{self.where}: `{key}` must be a date written YYYY-MM-DD, not {value!r}")

    def shares(self, key: str, required: bool = True) -> dict[str, float]:
        value = self.data.get(key)
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping) or not value:
            raise ReferenceDataError(f"{self.where}: `{key}` must map each code to a share")
        shares: dict[str, float] = {}
        for code, share in value.items():
            if isinstance(code, bool):
                raise ReferenceDataError(
                    f"{self.where}: `{key}` has the code {code!r}; quote codes such as \"yes\" and \"no\" in YAML"
                )
            if not isinstance(code, str) or not code.strip():
                raise ReferenceDataError(f"{self.where}: `{key}` has an empty or non-text code {code!r}")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise ReferenceDataError(f"{self.where}: share of `{code}` is {share!r}, not a number from 0 to 1")
            shares[code] = float(share)
        return shares

    def source(self, key: str = "source") -> Source:
        reader = _Reader(self.data.get(key), f"{self.where}.{key}")
        reader.check_keys({"title"}, {"url", "table", "vintage", "primary_url", "also"})
        also = reader.data.get("also") or []
        if not isinstance(also, list) or not all(isinstance(url, str) for url in also):
            raise ReferenceDataError(f"{reader.where}: `also` must be a list of addresses")
        return Source(title=reader.text("title"), url=reader.text("url", False), table=reader.text("table", False),
                      vintage=reader.text("vintage", False), primary_url=reader.text("primary_url", False),
                      also=tuple(also))


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (OSError, yaml.YAMLError) as error:
        raise ReferenceDataError(f"{path.name} cannot be read: {error}") from None


# --------------------------------------------------------------------------- targets

_TARGET_KEYS = {"label", "shares", "source", "computed", "confirmed"}
_TARGET_OPTIONAL_KEYS = {"counts", "denominator", "universe", "assumption", "note", "optional", "as_of", "counties"}


def _variable_target(variable: str, data: Any, where: str) -> VariableTarget:
    reader = _Reader(data, f"{where}: variable `{variable}`")
    reader.check_keys(_TARGET_KEYS, _TARGET_OPTIONAL_KEYS)
    shares = reader.shares("shares")
    total = sum(shares.values())
    if abs(total - 1) > SHARE_TOLERANCE:
        raise ReferenceDataError(f"{where}: target shares for `{variable}` sum to {total:.6g}, not 1")
    confirmed = reader.flag("confirmed")
    source = reader.source()
    assumption = reader.text("assumption", required=False)
    if not confirmed and not assumption:
        raise ReferenceDataError(
            f"{where}: `{variable}` is confirmed: false, so it needs an `assumption` saying what its shares rest on"
        )
    if confirmed and not source.url:
        raise ReferenceDataError(f"{where}: `{variable}` is confirmed: true but its source has no `url`")
    counts, denominator = _counts(reader, variable, shares, where)
    counties = reader.data.get("counties")
    if counties is not None:
        counties = _counties(variable, counties, shares, where)
    as_of = reader.data.get("as_of")
    return VariableTarget(
        variable=variable, label=reader.text("label"), shares=MappingProxyType(shares), source=source,
        computed=reader.text("computed"), confirmed=confirmed, universe=reader.text("universe", False) or "",
        counts=counts, denominator=denominator, assumption=assumption, note=reader.text("note", False),
        optional=reader.flag("optional", False), as_of=None if as_of is None else str(as_of), counties=counties,
    )


def _counts(reader: _Reader, variable: str, shares: dict[str, float], where: str):
    """The counts behind the shares, checked: each share must be its count over the denominator."""
    raw = reader.data.get("counts")
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping) or set(map(str, raw)) != set(shares):
        raise ReferenceDataError(f"{where}: `{variable}` counts must give one count for each code of its shares")
    counts = {str(code): count for code, count in raw.items()}
    if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts.values()):
        raise ReferenceDataError(f"{where}: `{variable}` counts must be whole numbers of people")
    denominator = int(reader.number("denominator", required=False) or sum(counts.values()))
    for code, count in counts.items():
        if abs(count / denominator - shares[code]) >= COUNT_ROUNDING:
            raise ReferenceDataError(
                f"{where}: share of `{variable}` = `{code}` is {shares[code]}, but its count gives "
                f"{count:,} / {denominator:,} = {count / denominator:.7f}"
            )
    return MappingProxyType(counts), denominator


def _counties(variable: str, raw: Any, shares: dict[str, float], where: str) -> Mapping[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping) or set(map(str, raw)) != set(shares):
        raise ReferenceDataError(f"{where}: `{variable}` counties must list the counties of each code of its shares")
    seen: dict[str, str] = {}
    for code, names in raw.items():
        for name in names:
            if name in seen:
                raise ReferenceDataError(f"{where}: county {name} is in both `{seen[name]}` and `{code}`")
            seen[name] = code
    return MappingProxyType({str(code): tuple(names) for code, names in raw.items()})


def load_default_targets(path: Path | str = DEFAULT_TARGETS_FILE) -> DefaultTargets:
    """Read and check a targets file in the format of ``survey/data/california_adult_targets.yaml``.

    Raises
    ------
    ReferenceDataError
        Naming the file and the variable: shares that do not sum to 1, an empty code, a share
        that does not follow from its count, an unconfirmed target without an assumption.
    """
    path = Path(path)
    reader = _Reader(_read_yaml(path), path.name)
    reader.check_keys({"name", "universe", "population", "population_source", "variables"}, {"caveat", "universe_name"})
    variables = reader.data["variables"]
    if not isinstance(variables, Mapping) or not variables:
        raise ReferenceDataError(f"{path.name}: `variables` must map each weighting variable to its targets")
    for variable in variables:
        if not isinstance(variable, str) or not variable.strip():
            raise ReferenceDataError(f"{path.name}: a weighting variable has an empty or non-text name {variable!r}")
    return DefaultTargets(
        name=reader.text("name"),
        universe=reader.text("universe"),
        population=float(reader.number("population")),
        population_source=reader.source("population_source"),
        caveat=reader.text("caveat", False) or "",
        universe_name=reader.text("universe_name", False) or "",
        variables=tuple(_variable_target(name, data, path.name) for name, data in variables.items()),
    )


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

_FIGURE_KEYS = {"id", "pollster", "population", "field_dates", "wording", "results", "source", "confirmed", "caveat"}
_FIGURE_OPTIONAL_KEYS = {"question", "shares", "groups", "wording_confirmed", "primary_source_seen", "field_start",
                         "field_end", "released", "n", "moe", "mode"}


def _figure(data: Any, where: str) -> PublishedFigure:
    reader = _Reader(data, where)
    reader.check_keys(_FIGURE_KEYS, _FIGURE_OPTIONAL_KEYS)
    figure_id = reader.text("id")
    reader.where = f"{where} (`{figure_id}`)"
    question = reader.text("question", required=False)
    shares = reader.shares("shares", required=False)
    groups = tuple(_group(g, f"{reader.where} group {i + 1}") for i, g in enumerate(reader.data.get("groups") or []))
    if (shares or groups) and question is None:
        raise ReferenceDataError(f"{reader.where}: `shares` and `groups` need the `question` they refer to")
    if sum(shares.values()) > 1 + PUBLISHED_ROUNDING:
        raise ReferenceDataError(f"{reader.where}: shares sum to {sum(shares.values()):.3f}, more than 1")
    confirmed = reader.flag("confirmed")
    source = reader.source()
    if confirmed and not source.url:
        raise ReferenceDataError(f"{reader.where}: confirmed: true but its source has no `url`")
    start, end = reader.date("field_start"), reader.date("field_end")
    if start and end and start > end:
        raise ReferenceDataError(f"{reader.where}: field_start {start} is after field_end {end}")
    n = reader.number("n", required=False)
    if n is not None and n != int(n):
        raise ReferenceDataError(f"{reader.where}: `n` must be a whole number of respondents, not {n}")
    return PublishedFigure(
        id=figure_id, pollster=reader.text("pollster"), population=reader.text("population"),
        field_dates=reader.text("field_dates"), wording=reader.text("wording"),
        results=MappingProxyType(reader.shares("results")), source=source, confirmed=confirmed,
        caveat=reader.text("caveat"), question=question, shares=MappingProxyType(shares), groups=groups,
        wording_confirmed=reader.flag("wording_confirmed", False),
        primary_source_seen=reader.flag("primary_source_seen", False),
        field_start=start, field_end=end, released=reader.date("released"),
        n=None if n is None else int(n), moe=reader.text("moe", False), mode=reader.text("mode", False),
    )


def _group(data: Any, where: str) -> FigureGroup:
    reader = _Reader(data, where)
    reader.check_keys({"label", "categories", "share"}, set())
    categories = reader.data["categories"]
    if not isinstance(categories, list) or not categories or not all(isinstance(c, str) and c for c in categories):
        raise ReferenceDataError(f"{where}: `categories` must be a non-empty list of answer codes")
    share = reader.data["share"]
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise ReferenceDataError(f"{where}: `share` is {share!r}, not a number from 0 to 1")
    return FigureGroup(label=reader.text("label"), categories=tuple(categories), share=float(share))


def load_published_figures(path: Path | str = PUBLISHED_FIGURES_FILE) -> tuple[PublishedFigure, ...]:
    """Read and check a file in the format of ``survey/data/published_figures.yaml``.

    Raises
    ------
    ReferenceDataError
        Naming the file and the figure: a missing source, population or dates, a share
        outside 0-1, a duplicate id, shares without the question they refer to.
    """
    path = Path(path)
    reader = _Reader(_read_yaml(path), path.name)
    reader.check_keys({"figures"}, set())
    entries = reader.data["figures"]
    if not isinstance(entries, list) or not entries:
        raise ReferenceDataError(f"{path.name}: `figures` must be a non-empty list")
    figures = tuple(_figure(entry, f"{path.name} figure {i + 1}") for i, entry in enumerate(entries))
    ids = [figure.id for figure in figures]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ReferenceDataError(f"{path.name}: figure id(s) {', '.join(duplicated)} appear more than once")
    return figures


@lru_cache(maxsize=1)
def _shipped_figures() -> tuple[PublishedFigure, ...]:
    return load_published_figures()


def published_figures(question: Optional[str] = None) -> tuple[PublishedFigure, ...]:
    """The shipped published figures, optionally only those set beside ``question``."""
    return tuple(f for f in _shipped_figures() if question is None or f.question == question)
