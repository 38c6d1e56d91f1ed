"""Files a pollster publishes: respondent-level data with weights as CSV, SPSS ``.sav``, Stata
``.dta`` and Parquet, a codebook, and toplines or crosstabs as spreadsheets.

A :class:`Codebook` describes the columns once (label = question text, value labels = answer
labels) and every writer uses it, so the files agree with each other.

How categorical answers are stored
----------------------------------
* CSV and Parquet keep the questionnaire's string codes (``"18-29"``, ``"very_likely"``), the
  same values ``python -m analysis run`` reads. Parquet also carries the codebook as metadata.
* SPSS and Stata label only numbers, so a categorical variable with string codes is stored as
  the numbers 1..k, in the order of its value labels (the questionnaire's answer order), each
  number labelled with the answer's label. The codebook lists number, code and label side by
  side, so a ``.sav``/``.dta`` value can always be traced back to the CSV code. Categorical
  variables whose codes are already numbers (0/1 for a multiple-choice option) keep them.
* Missing answers are empty cells in CSV, nulls in Parquet and system-missing (``.``) in SPSS
  and Stata. A string (text) variable has no missing value in SPSS or Stata: it is empty there.

Spreadsheet safety
------------------
A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written
with a leading ``'`` in CSV and XLSX so a spreadsheet shows it instead of running it as a
formula (OWASP "CSV injection"). Numbers, including negative numbers, are written as numbers.
"""
from __future__ import annotations

import html
import io
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO, Literal, Optional, Union

import numpy as np
import pandas as pd

from analysis._checks import check_choice

logger = logging.getLogger(__name__)

VariableType = Literal["categorical", "numeric", "text"]
VARIABLE_TYPES = ("categorical", "numeric", "text")
Target = Union[str, os.PathLike, BinaryIO]

#: Rows per batch when one DataFrame is streamed as CSV.
CSV_BATCH_ROWS = 10_000

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

_STATA_RESERVED = {
    "_all", "_b", "byte", "_coef", "_cons", "double", "float", "if", "in", "int", "long", "_n", "_N",
    "_pi", "_pred", "_rc", "_skip", "strl", "using", "with",
}
_SPSS_RESERVED = {"all", "and", "by", "eq", "ge", "gt", "le", "lt", "ne", "not", "or", "to", "with"}
_STATA_LABEL_CHARS = 80  # variable and file labels (Stata 14+)
_SPSS_LABEL_BYTES = 256  # readstat cuts longer variable labels


# --------------------------------------------------------------------------- the codebook


@dataclass(frozen=True)
class VariableInfo:
    """One column of a respondent file.

    Parameters
    ----------
    name : the column name (the question code).
    label : what SPSS and Stata show beside the name: the question text.
    type : {"categorical", "numeric", "text"}
    value_labels : code -> label, in answer order (the order gives the .sav/.dta numbers).
    ordered : whether the answers form a scale (SPSS measure "ordinal" rather than "nominal").
    """

    name: str
    label: str = ""
    type: VariableType = "numeric"
    value_labels: Mapping[Any, str] = field(default_factory=dict)
    ordered: bool = False

    def __post_init__(self) -> None:
        check_choice(f"type of `{self.name}`", self.type, VARIABLE_TYPES)
        if not self.name:
            raise ValueError("a variable needs a name")
        if self.type == "categorical" and not self.value_labels:
            raise ValueError(f"categorical variable `{self.name}` needs value labels (code -> label)")
        object.__setattr__(self, "value_labels", MappingProxyType(dict(self.value_labels)))

    @property
    def stored_codes(self) -> dict[Any, float]:
        """Code -> the number stored in .sav/.dta: 1..k for text codes, the code itself for numbers."""
        if all(_is_number(code) for code in self.value_labels):
            return {code: code for code in self.value_labels}
        return {code: number for number, code in enumerate(self.value_labels, start=1)}


@dataclass(frozen=True)
class Codebook:
    """The variables of a respondent file, plus dataset metadata (survey, weighting run, dates)."""

    variables: tuple[VariableInfo, ...]
    title: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variables]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"the codebook describes {', '.join(f'`{n}`' for n in repeated)} more than once")
        object.__setattr__(self, "variables", tuple(self.variables))
        object.__setattr__(self, "metadata", MappingProxyType({str(k): str(v) for k, v in self.metadata.items()}))

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def labelled(self) -> list[str]:
        """Variables stored as numbers with value labels in .sav and .dta (the categorical ones)."""
        return [v.name for v in self.variables if v.type == "categorical"]

    def variable(self, name: str) -> VariableInfo:
        for info in self.variables:
            if info.name == name:
                return info
        raise KeyError(f"the codebook has no variable `{name}`")

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        labels: Optional[Mapping[str, str]] = None,
        value_labels: Optional[Mapping[str, Mapping[Any, str]]] = None,
        *,
        ordered: Iterable[str] = (),
        title: str = "",
        metadata: Optional[Mapping[str, str]] = None,
    ) -> "Codebook":
        """Describe every column of ``frame``: a column with value labels is categorical, a
        numeric column numeric, anything else text."""
        labels, value_labels, ordered = labels or {}, value_labels or {}, set(ordered)
        variables = []
        for name in frame.columns:
            if name in value_labels:
                kind = "categorical"
            elif pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name]):
                kind = "numeric"
            else:
                kind = "text"
            variables.append(VariableInfo(str(name), labels.get(name, ""), kind, value_labels.get(name, {}),
                                          name in ordered))
        return cls(tuple(variables), title=title, metadata=metadata or {})

    def covering(self, frame: pd.DataFrame) -> "Codebook":
        """This codebook in ``frame``'s column order, with columns it does not describe inferred.

        A variable of the codebook that ``frame`` lacks is an error: a file would silently
        miss a column its documentation promises.
        """
        missing = [name for name in self.names if name not in frame.columns]
        if missing:
            raise ValueError(f"the codebook describes {', '.join(f'`{n}`' for n in missing)}, not in the data")
        inferred = Codebook.from_frame(frame[[c for c in frame.columns if c not in self.names]])
        known = {v.name: v for v in self.variables} | {v.name: v for v in inferred.variables}
        return Codebook(tuple(known[str(c)] for c in frame.columns), self.title, self.metadata)

    def to_frame(self) -> pd.DataFrame:
        """One row per variable: name, its SPSS and Stata names, label, type, and values written
        ``number = code: label`` (the number is what .sav and .dta store)."""
        spss, stata = spss_names(self.names), stata_names(self.names, self.labelled)
        rows = []
        for info in self.variables:
            values = "; ".join(
                _value_text(number, code, info.value_labels[code]) for code, number in info.stored_codes.items()
            )
            rows.append({"variable": info.name, "spss_name": spss[info.name], "stata_name": stata[info.name],
                         "label": info.label, "type": info.type, "values": values})
        return pd.DataFrame(rows, columns=["variable", "spss_name", "stata_name", "label", "type", "values"])


def _value_text(number: Any, code: Any, label: str) -> str:
    number = _format_number(number)
    code = _format_number(code)
    return f"{number} = {label}" if number == code else f"{number} = {code}: {label}"


def _format_number(value: Any) -> str:
    if _is_number(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# --------------------------------------------------------------------------- names


def _safe_names(
    names: Iterable[str], *, max_length: int, reserved: set[str], first: str, allowed: str,
    shorter: Mapping[str, int] = MappingProxyType({}),
) -> dict[str, str]:
    """Valid, unique names; ``shorter`` gives some names a lower length limit than ``max_length``."""
    result: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        limit = shorter.get(name, max_length)
        ascii_name = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
        base = re.sub(f"[^{allowed}]", "_", ascii_name) or "v"
        if not re.match(f"[{first}]", base) or base.lower() in reserved or re.fullmatch(r"str\d+", base.lower()):
            base = f"v_{base}"
        base = base[:limit]
        candidate, number = base, 2
        while candidate.lower() in used:
            suffix = f"_{number}"
            candidate, number = base[: limit - len(suffix)] + suffix, number + 1
        used.add(candidate.lower())
        result[name] = candidate
    return result


def stata_names(names: Iterable[str], labelled: Iterable[str] = ()) -> dict[str, str]:
    """Name -> a valid Stata name: ASCII letters, digits and ``_``, not starting with a digit,
    at most 32 characters, not a reserved word, unique (``_2``, ``_3`` ... on a clash).

    ``labelled`` names (variables with value labels) leave room for the counter pyreadstat
    appends to a variable's name to name its value-label set (``calexit_reason0``), because
    readstat refuses label-set names over Stata's 32 characters: with up to 10 labelled
    variables they get 31 characters, up to 100 30, and so on.
    """
    names = list(names)
    labelled = set(labelled) & set(names)
    room = 32 - len(str(max(len(labelled) - 1, 0)))
    return _safe_names(names, max_length=32, reserved={r.lower() for r in _STATA_RESERVED},
                       first="A-Za-z_", allowed="A-Za-z0-9_", shorter=dict.fromkeys(labelled, room))


def spss_names(names: Iterable[str]) -> dict[str, str]:
    """Name -> a valid SPSS name: starting with a letter, at most 64 characters, not a reserved
    word (ALL, AND, BY, ...), unique ignoring case."""
    return _safe_names(list(names), max_length=64, reserved=_SPSS_RESERVED, first="A-Za-z", allowed="A-Za-z0-9_.")


# --------------------------------------------------------------------------- formula injection


def neutralize(value: Any) -> Any:
    """``value`` made safe for a spreadsheet cell: text that a spreadsheet would run as a formula
    gets a leading ``'``; numbers (and text that is just a number, such as ``"-0.5"``) are kept."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _neutralize_series(series: pd.Series) -> pd.Series:
    """:func:`neutralize` on a whole text column, vectorized (a download may have millions of cells)."""
    values = series.astype(object).to_numpy(copy=True)
    present = pd.notna(values)
    text = pd.Series(values[present], dtype=object).astype(str)  # one type per column, as Arrow needs
    risky = (text.str.startswith(_FORMULA_START) & ~text.str.fullmatch(_PLAIN_NUMBER.pattern)).to_numpy(bool)
    safe = text.to_numpy(dtype=object)
    safe[risky] = [f"'{value}" for value in safe[risky]]
    values[present] = safe
    return pd.Series(values, index=series.index, name=series.name, dtype=object)


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`neutralize` applied to every text cell and column name."""
    safe = frame.copy()
    for column in safe.columns:
        series = safe[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            safe[column] = _neutralize_series(series)
    safe.columns = [neutralize(str(c)) for c in safe.columns]
    return safe


# --------------------------------------------------------------------------- output targets


def _write_bytes(target: Target, chunks: Iterable[bytes]) -> None:
    if hasattr(target, "write"):
        for chunk in chunks:
            target.write(chunk)
        return
    with open(target, "wb") as file:
        for chunk in chunks:
            file.write(chunk)


def _via_path(target: Target, write, suffix: str) -> None:
    """Run ``write(path)`` on ``target``, or on a temporary file copied into a binary buffer
    (pyreadstat writes only to paths)."""
    if not hasattr(target, "write"):
        write(os.fspath(target))
        return
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, f"export{suffix}")
        write(path)
        with open(path, "rb") as file:
            shutil.copyfileobj(file, target)


# --------------------------------------------------------------------------- CSV


Batch = Union[pd.DataFrame, Sequence[Mapping[str, Any]], Sequence[Sequence[Any]]]


def iter_csv(
    batches: Union[pd.DataFrame, Iterable[Batch]],
    columns: Optional[Sequence[str]] = None,
    *,
    bom: bool = False,
    batch_rows: int = CSV_BATCH_ROWS,
) -> Iterator[bytes]:
    """Encoded CSV, one chunk per batch of rows, so a large download streams.

    Parameters
    ----------
    batches : a DataFrame (sent in slices of ``batch_rows``) or an iterable of batches, each a
        DataFrame, a list of row mappings, or a list of row sequences in ``columns`` order.
    columns : the header; default the first batch's columns. Every batch must have them.
    bom : start with a UTF-8 byte-order mark, so Excel reads accents in the labels correctly.

    Yields
    ------
    bytes : the header line first, then each batch's rows (UTF-8, ``\\n`` line ends, text
        quoted, a missing value an empty unquoted field and an empty text ``""``).
    """
    if isinstance(batches, pd.DataFrame):
        whole = batches
        batches = (whole.iloc[start:start + batch_rows] for start in range(0, max(len(whole), 1), batch_rows))
    header_sent = False
    columns = list(columns) if columns is not None else None
    for batch in batches:
        frame = _batch_frame(batch, columns)
        if columns is None:
            columns = [str(c) for c in frame.columns]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"a batch of rows lacks the column(s) {', '.join(f'`{c}`' for c in missing)}")
        chunk = _csv_chunk(frame[columns], header=not header_sent)
        if not header_sent:
            chunk = (_BOM if bom else b"") + chunk
            header_sent = True
        yield chunk
    if not header_sent and columns is not None:
        yield (_BOM if bom else b"") + _csv_chunk(pd.DataFrame(columns=columns), header=True)


_BOM = "\ufeff".encode("utf-8")


def _csv_chunk(frame: pd.DataFrame, header: bool) -> bytes:
    """Rows as CSV by Arrow's writer (several times faster than pandas on numbers): numbers in
    shortest round-trip form, text quoted, a missing value an empty unquoted field."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    buffer = io.BytesIO()
    table = pa.Table.from_pandas(neutralize_frame(frame), preserve_index=False)
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=header, quoting_style="needed"))
    return buffer.getvalue()


def _batch_frame(batch: Batch, columns: Optional[Sequence[str]]) -> pd.DataFrame:
    if isinstance(batch, pd.DataFrame):
        return batch
    rows = list(batch)
    if rows and not isinstance(rows[0], Mapping):
        if columns is None:
            raise ValueError("rows given as sequences need `columns` to name them")
        return pd.DataFrame(rows, columns=list(columns))
    return pd.DataFrame(rows, columns=list(columns) if columns is not None else None)


def csv_text(rows: Iterable[Sequence[Any]], columns: Sequence[str]) -> str:
    """A small CSV file (links, targets) as text, formula-safe and quoted like every other download."""
    return b"".join(iter_csv([list(rows)], columns)).decode("utf-8")


def write_csv(frame: pd.DataFrame, target: Target, *, bom: bool = False) -> None:
    """Write ``frame`` as CSV (codes as in the questionnaire, missing = empty cell), formula-safe."""
    _write_bytes(target, iter_csv(frame, bom=bom))


# --------------------------------------------------------------------------- SPSS and Stata


def labelled_frame(frame: pd.DataFrame, codebook: Codebook) -> tuple[pd.DataFrame, dict[str, dict[float, str]]]:
    """``frame`` with categorical string codes replaced by their stored numbers, and the value
    labels keyed by those numbers (what SPSS and Stata files hold).

    Raises
    ------
    ValueError
        A categorical column holds a code that has no value label (it could not be stored).
    """
    data: dict[str, pd.Series] = {}
    labels: dict[str, dict[float, str]] = {}
    for info in codebook.variables:
        column = frame[info.name]
        if info.type == "categorical":
            stored = info.stored_codes
            unknown = sorted({str(v) for v in column.dropna().unique() if v not in stored})
            if unknown:
                raise ValueError(f"`{info.name}` has value(s) {', '.join(map(repr, unknown))} with no value label")
            data[info.name] = _as_numbers(column.astype(object).map(stored))
            labels[info.name] = {float(stored[code]): label for code, label in info.value_labels.items()}
        elif info.type == "numeric":
            numbers = column if pd.api.types.is_numeric_dtype(column) else pd.to_numeric(column.astype(object))
            data[info.name] = _as_numbers(numbers)
        else:
            data[info.name] = column.astype(object).where(column.notna(), "").astype(str)
    return pd.DataFrame(data, index=frame.index), labels


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _as_numbers(series: pd.Series) -> pd.Series:
    """Whole numbers without missing values as int64 (Stata byte/int/long), else float64."""
    series = series.astype(float)
    if series.notna().all() and np.all(np.mod(series.to_numpy(), 1) == 0) and series.abs().max(skipna=True) < 2**31:
        return series.astype(np.int64)
    return series


def _truncate(text: str, characters: Optional[int] = None, utf8_bytes: Optional[int] = None) -> str:
    if characters is not None and len(text) > characters:
        text = text[: characters - 1] + "…"
    if utf8_bytes is not None and len(text.encode("utf-8")) > utf8_bytes:
        text = text.encode("utf-8")[: utf8_bytes - 3].decode("utf-8", "ignore") + "…"
    return text


def _stored(frame: pd.DataFrame, codebook: Optional[Codebook], valid_names):
    """What an SPSS or Stata file holds: the covering codebook, the data as stored numbers under
    valid names, the value labels by those names, and original name -> valid name."""
    codebook = (codebook or Codebook.from_frame(frame)).covering(frame)
    data, value_labels = labelled_frame(frame, codebook)
    names = valid_names(codebook)
    data.columns = [names[c] for c in codebook.names]
    renamed = {old: new for old, new in names.items() if old != new}
    if renamed:
        logger.info("variables renamed: %s", renamed)
    return codebook, data, {names[n]: labels for n, labels in value_labels.items()}, names


def write_sav(frame: pd.DataFrame, target: Target, codebook: Optional[Codebook] = None) -> dict[str, str]:
    """Write an SPSS ``.sav`` file with variable labels, value labels and measurement levels.

    Returns
    -------
    dict : original name -> SPSS name, for columns whose name had to change.
    """
    codebook, data, value_labels, names = _stored(frame, codebook, lambda book: spss_names(book.names))
    measure = {names[v.name]: "scale" if v.type == "numeric" else "ordinal" if v.ordered else "nominal"
               for v in codebook.variables}
    notes = [f"{key}: {value}" for key, value in codebook.metadata.items()]

    def write(path: str) -> None:
        import pyreadstat

        pyreadstat.write_sav(
            data, path,
            file_label=_truncate(codebook.title, utf8_bytes=64),
            column_labels={names[v.name]: _truncate(v.label, utf8_bytes=_SPSS_LABEL_BYTES) or None
                           for v in codebook.variables},
            variable_value_labels=value_labels,
            variable_measure=measure,
            note=notes or None,
        )

    _via_path(target, write, ".sav")
    return {old: new for old, new in names.items() if old != new}


def write_dta(frame: pd.DataFrame, target: Target, codebook: Optional[Codebook] = None) -> dict[str, str]:
    """Write a Stata ``.dta`` file (format 118, Stata 14+, UTF-8) with variable and value labels.

    Names are made valid Stata names (:func:`stata_names`); labels longer than Stata's 80
    characters are shortened with "…" (the codebook keeps them whole).

    Returns
    -------
    dict : original name -> Stata name, for columns whose name had to change.
    """
    codebook, data, value_labels, names = _stored(frame, codebook, lambda book: stata_names(book.names, book.labelled))

    def write(path: str) -> None:
        import pyreadstat

        pyreadstat.write_dta(
            data, path,
            file_label=_truncate(codebook.title, characters=_STATA_LABEL_CHARS),
            column_labels={names[v.name]: _truncate(v.label, characters=_STATA_LABEL_CHARS) or None
                           for v in codebook.variables},
            variable_value_labels={n: {int(k): v for k, v in labels.items()} for n, labels in value_labels.items()},
            version=15,
        )

    _via_path(target, write, ".dta")
    return {old: new for old, new in names.items() if old != new}


# --------------------------------------------------------------------------- Parquet


def write_parquet(frame: pd.DataFrame, target: Target, codebook: Optional[Codebook] = None) -> None:
    """Write Parquet with the questionnaire's codes; the codebook rides along as metadata
    (schema key ``codebook``: JSON; each field's ``label``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    codebook = (codebook or Codebook.from_frame(frame)).covering(frame)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [
        table.schema.field(i).with_metadata({"label": codebook.variable(name).label}) if codebook.variable(name).label
        else table.schema.field(i)
        for i, name in enumerate(table.column_names)
    ]
    metadata = dict(table.schema.metadata or {})
    metadata[b"codebook"] = json.dumps(codebook_dict(codebook), ensure_ascii=False).encode("utf-8")
    table = pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=metadata))
    pq.write_table(table, target if hasattr(target, "write") else os.fspath(target))


def codebook_dict(codebook: Codebook) -> dict[str, Any]:
    """The codebook as plain JSON-ready data (what Parquet metadata carries)."""
    return {
        "title": codebook.title,
        "metadata": dict(codebook.metadata),
        "variables": [
            {"name": v.name, "label": v.label, "type": v.type, "ordered": v.ordered,
             "values": [{"stored": _json_number(v.stored_codes[code]), "code": _json_number(code), "label": label}
                        for code, label in v.value_labels.items()]}
            for v in codebook.variables
        ],
    }


def _json_number(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------- codebook files

CodebookFormat = Literal["csv", "md", "html"]


def write_codebook(codebook: Codebook, target: Target, format: CodebookFormat = "csv") -> None:
    """Write the codebook as CSV (one row per variable), Markdown or a standalone HTML page."""
    check_choice("format", format, ("csv", "md", "html"))
    table = codebook.to_frame()
    if format == "csv":
        _write_bytes(target, iter_csv(table))
        return
    text = _codebook_markdown(codebook, table) if format == "md" else _codebook_html(codebook, table)
    _write_bytes(target, [text.encode("utf-8")])


def _codebook_markdown(codebook: Codebook, table: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    lines = [f"# {codebook.title or 'Codebook'}", ""]
    lines += [f"- **{cell(key)}**: {cell(value)}" for key, value in codebook.metadata.items()]
    if codebook.metadata:
        lines.append("")
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _codebook_html(codebook: Codebook, table: pd.DataFrame) -> str:
    title = html.escape(codebook.title or "Codebook")
    meta = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in codebook.metadata.items())
    head = "".join(f"<th scope=\"col\">{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>"
            f"<body><h1>{title}</h1>{f'<dl>{meta}</dl>' if meta else ''}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>\n")


# --------------------------------------------------------------------------- XLSX tables

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_MAX_COLUMN_WIDTH = 60


def write_xlsx(
    tables: Union[pd.DataFrame, Mapping[str, pd.DataFrame]],
    target: Target,
    *,
    title: str = "",
    notes: Sequence[str] = (),
    number_formats: Optional[Mapping[str, str]] = None,
) -> None:
    """Write toplines or crosstabs to an Excel workbook, one sheet per table.

    Each sheet starts with ``title`` (bold) and the ``notes`` lines, then the table with a bold,
    frozen header row and columns as wide as their contents (up to 60 characters). Numbers stay
    numbers; ``number_formats`` maps a column name to an Excel format (``"0.0%"``, ``"0.000"``).
    Text is formula-safe (see the module notes).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    if isinstance(tables, pd.DataFrame):
        tables = {"Table": tables}
    if not tables:
        raise ValueError("write_xlsx needs at least one table")
    number_formats = number_formats or {}
    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet_name, table in zip(_sheet_names(list(tables)), tables.values()):
        sheet = workbook.create_sheet(sheet_name)
        lines = [line for line in [title, *notes] if line]
        for row, line in enumerate(lines, start=1):
            sheet.cell(row=row, column=1, value=neutralize(line)).font = Font(bold=row == 1 and bool(title))
        header_row = len(lines) + (2 if lines else 1)
        widths = []
        for col, name in enumerate(table.columns, start=1):
            sheet.cell(row=header_row, column=col, value=neutralize(str(name))).font = Font(bold=True)
            widths.append(len(str(name)))
        for r, values in enumerate(table.itertuples(index=False), start=header_row + 1):
            for c, (name, value) in enumerate(zip(table.columns, values), start=1):
                cell = sheet.cell(row=r, column=c, value=_xlsx_value(value))
                if name in number_formats and _is_number(cell.value):
                    cell.number_format = number_formats[name]
                widths[c - 1] = max(widths[c - 1], len(_display(cell.value, number_formats.get(name))))
        for col, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(col)].width = min(width + 2, _MAX_COLUMN_WIDTH)
        sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    _write_bytes(target, [buffer.getvalue()])


def _xlsx_value(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return neutralize(value) if isinstance(value, str) else value


def _display(value: Any, number_format: Optional[str]) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1%}" if number_format and "%" in number_format else f"{value:.4g}"
    return str(value)


def _sheet_names(names: Sequence[Any]) -> list[str]:
    """Valid, unique Excel sheet names: no ``[]:*?/\\``, at most 31 characters."""
    result: list[str] = []
    for name in names:
        base = _SHEET_FORBIDDEN.sub("_", str(name)).strip("'")[:31] or "Sheet"
        candidate, number = base, 2
        while candidate.lower() in (r.lower() for r in result):
            suffix = f" ({number})"
            candidate, number = base[: 31 - len(suffix)] + suffix, number + 1
        result.append(candidate)
    return result
