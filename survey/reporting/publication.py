"""What a pollster publishes from a weighting run: respondent data with weights, a codebook
and a methodology statement with the AAPOR Transparency Initiative disclosure items.

Everything is built from the run's data file (``ComputedRun.frame``: no tokens, panel ids,
hashes or free text ever enter it) and its ``run_spec`` result, so the files agree with the
pages and with ``python -m analysis run`` on the downloaded spec.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Optional

import pandas as pd

from analysis.export import Codebook, iter_csv, write_dta, write_parquet, write_sav, write_xlsx
from survey.models import Survey
from survey.reporting.methodology import methodology_markdown
from survey.reporting.nets import NetError, added_nets
from survey.reporting.tables import tables, tables_frame
from survey.questionnaires.model import OPTION_SEPARATOR
from survey.responses.dataset import crossable, questions_of
from survey.weighting.runs import ComputedRun, compute, replicate_weights, run_header
from survey.weighting.settings import INTERVAL_METHODS, WeightingError
from survey.weighting.spec import ID_COLUMN, spec_yaml

WEIGHT_COLUMN = "weight"


def respondent_frame(computed: ComputedRun, replicates: Optional[str] = None) -> pd.DataFrame:
    """One row per respondent of the run: answers, interview language, the final weight and,
    on request, replicate weights (``repw_1`` ...) re-weighted the same way."""
    frame = computed.frame.copy()
    frame[WEIGHT_COLUMN] = computed.result.weights
    if replicates:
        frame = pd.concat([frame, replicate_weights(computed, replicates)], axis=1)
    return frame


def variable_labels(computed: ComputedRun, frame: pd.DataFrame, language: str = "en") -> dict[str, str]:
    """A label for every column of a respondent file (what SPSS and Stata show beside the name)."""
    labels = {ID_COLUMN: "Respondent number (no link to any personal data)", "language": "Interview language",
              WEIGHT_COLUMN: f"Final weight, weighting run {computed.run.id}"}
    for question in computed.data.questions:
        if question.multiple:
            for option in question.options:
                labels[f"{question.code}{OPTION_SEPARATOR}{option.code}"] = (
                    f"{question.label(language)} — {question.option_label(option.code, language)}"
                )
        else:
            labels[question.code] = question.label(language)
    for variable, code in _weighting_copies(computed, frame).items():
        labels[variable] = f"Weighting variable {variable} (from question {code})"
    for column in frame.columns:
        if column.startswith("repw_"):
            labels[column] = f"Replicate weight {column.removeprefix('repw_')}"
    return {column: labels[column] for column in frame.columns if column in labels}


def value_labels(computed: ComputedRun, frame: pd.DataFrame, language: str = "en") -> dict[str, dict[Any, str]]:
    """Code -> label for every categorical column (0/1 columns of multiple choice: not chosen/chosen)."""
    labels: dict[str, dict[Any, str]] = {"language": {"en": "English", "es": "Spanish"}}
    for question in computed.data.questions:
        if question.multiple:
            for option in question.options:
                labels[f"{question.code}{OPTION_SEPARATOR}{option.code}"] = {0: "Not chosen", 1: "Chosen"}
        elif question.closed:
            labels[question.code] = {o.code: question.option_label(o.code, language) for o in question.options}
    for variable, code in _weighting_copies(computed, frame).items():
        if code in labels:
            labels[variable] = labels[code]
    return {column: labels[column] for column in frame.columns if column in labels}


def _weighting_copies(computed: ComputedRun, frame: pd.DataFrame) -> dict[str, str]:
    """Weighting variables written as their own column (a copy of a question under another name)."""
    return {
        q.weighting_variable: q.code
        for q in computed.data.questions
        if q.weighting_variable and q.weighting_variable != q.code and q.weighting_variable in frame.columns
    }


def codebook(computed: ComputedRun, frame: pd.DataFrame) -> Codebook:
    """The ``analysis.export`` codebook of a respondent file: labels from the questionnaire,
    rating scales marked as ordered, the run named in the metadata."""
    ordered = [q.code for q in computed.data.questions if q.scale is not None]
    return Codebook.from_frame(
        frame,
        labels=variable_labels(computed, frame),
        value_labels=value_labels(computed, frame),
        ordered=[name for name in ordered if name in frame.columns],
        title=f"{computed.data.survey.slug}, weighting run {computed.run.id}",
        metadata={
            "survey": computed.data.survey.slug,
            "weighting_run": str(computed.run.id),
            "respondents": str(len(frame)),
            "data_sha256": computed.run.data_hash,
        },
    )


def codebook_table(computed: ComputedRun, frame: pd.DataFrame) -> pd.DataFrame:
    """The codebook as a table, with the Spanish wording beside the English one."""
    table = codebook(computed, frame).to_frame()
    spanish = variable_labels(computed, frame, "es")
    table.insert(table.columns.get_loc("label") + 1, "label_es", [spanish.get(name, "") for name in table["variable"]])
    return table


# --------------------------------------------------------------------------- files

RESPONDENT_FORMATS = {"csv", "sav", "dta", "parquet"}
SPOOL_BYTES = 8 * 1024 * 1024  # a built file larger than this waits on disk, not in memory
CHUNK_BYTES = 256 * 1024
REPLICATE_CHOICES = {"jk1"}


class DownloadError(ValueError):
    """A download that cannot be made as asked; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Download:
    """A file ready to send: ``body`` is bytes, or an iterator of bytes for a streamed file."""

    filename: str
    mimetype: str
    body: Any


MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "sav": "application/x-spss-sav",
    "dta": "application/x-stata-dta",
    "parquet": "application/vnd.apache.parquet",
    "yaml": "application/yaml; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}
FILE_NAMES = (
    "spec.yaml", "data.csv", "respondents.csv", "respondents.sav", "respondents.dta", "respondents.parquet",
    "toplines.csv", "toplines.xlsx", "crosstabs.csv", "crosstabs.xlsx", "codebook.csv", "codebook.xlsx",
    "methodology.md",
)


def build_download(survey: Survey, run, name: str, args: Mapping[str, str]) -> Download:
    """The file ``name`` of ``run`` (one of ``FILE_NAMES``), shaped by ``args`` (``ci``, ``by``,
    ``replicates``)."""
    if name not in FILE_NAMES:
        raise DownloadError(f"there is no file {name!r}; the files are {', '.join(FILE_NAMES)}", status=404)
    stem, extension = name.rsplit(".", 1)
    interval = args.get("ci", "logit")
    by = args.get("by") or None
    if stem == "crosstabs" and by is None:
        raise DownloadError("crosstabs need a question to cross by: add ?by=<question code>")
    if stem not in ("crosstabs", "spec"):
        by = None  # a spec keeps ``by`` so it reproduces the crosstab on the page it came from
    replicates = args.get("replicates") or None
    if replicates is not None and replicates not in REPLICATE_CHOICES:
        raise DownloadError(f"replicates must be one of {', '.join(sorted(REPLICATE_CHOICES))}, not {replicates!r}")
    if by is not None and by not in dict(crossable(questions_of(survey))):
        raise DownloadError(f"cannot cross by {by!r}; choose a single-choice question of this survey")
    try:
        nets = added_nets(args.getlist("net") if hasattr(args, "getlist") else [], questions_of(survey))
        computed = compute(run, interval, by, estimates=stem in ("spec", "toplines", "crosstabs"), nets=nets)
    except (WeightingError, NetError) as error:
        raise DownloadError(str(error)) from error
    prefix = f"{survey.slug}-run{run.id}"
    filename = {"data": computed.spec["data"]}.get(stem, f"{prefix}-{stem}.{extension}")
    mimetype = MIMETYPES[extension]
    if stem == "spec":
        return Download(filename, mimetype, spec_yaml(computed.spec, run_header(run, survey)).encode())
    if stem == "data":
        return Download(filename, mimetype, _in_chunks(computed.csv_bytes))
    if stem == "methodology":
        return Download(filename, mimetype, methodology_markdown(computed, survey).encode())
    if stem == "toplines" or stem == "crosstabs":
        table = tables_frame(tables(computed))
        notes = [f"Weighting run {run.id}; {INTERVAL_METHODS[interval]} intervals at 95%; margin of error = t x design-based SE.",
                 "Rows with net = True add up several answers (e.g. likely = very + somewhat likely); they are estimated "
                 "like any answer.",
                 "Rows with weighted_to_target = True are weighting variables: their shares are the targets, so they have "
                 "no interval."]
        return Download(filename, mimetype, _table_file(table, extension, stem, notes))
    frame = respondent_frame(computed, replicates)
    if stem == "codebook":
        return Download(filename, mimetype, _table_file(codebook_table(computed, frame), extension, "codebook", []))
    return Download(filename, mimetype, _respondent_file(frame, codebook(computed, frame), extension))


def _table_file(table: pd.DataFrame, extension: str, title: str, notes: list[str]) -> Iterator[bytes]:
    if extension == "csv":
        return iter_csv(table)
    decimals = {column: "0.0000" for column in ("estimate", "se", "ci_low", "ci_high", "margin_of_error") if column in table}
    return spooled(lambda out: write_xlsx({title: table}, out, title=title.capitalize(), notes=notes,
                                          number_formats=decimals))


def _respondent_file(frame: pd.DataFrame, book: Codebook, extension: str) -> Iterator[bytes]:
    """CSV streams batch by batch; SPSS, Stata and Parquet writers need the whole frame, and
    write to a spooled file that is then sent in chunks."""
    if extension == "csv":
        return iter_csv(frame)
    return spooled(lambda out: {"sav": write_sav, "dta": write_dta, "parquet": write_parquet}[extension](frame, out, book))


def spooled(write: Callable[[BinaryIO], Any]) -> Iterator[bytes]:
    """Run ``write`` on a file kept in memory up to ``SPOOL_BYTES`` and on disk beyond, then
    yield it in chunks: a big file is never held whole as one ``bytes`` beside its frame."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        write(spool)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return _chunks_of(spool)


def _chunks_of(spool: BinaryIO) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk


def _in_chunks(body: bytes) -> Iterator[bytes]:
    """A file already in memory (the run's data file, which its hash was taken of), sent in chunks."""
    for start in range(0, len(body), CHUNK_BYTES):
        yield body[start:start + CHUNK_BYTES]


def download_response(survey: Survey, run, name: str, args: Mapping[str, str]):
    """The Flask response for file ``name`` of ``run``; a download that cannot be made is aborted
    with its status and message (one path for the pollster pages and the API)."""
    from flask import abort

    try:
        download = build_download(survey, run, name, args)
    except DownloadError as error:
        abort(error.status, str(error))
    return send_download(download)


def send_download(download: Download):
    """A Flask response for ``download``; an iterator body is streamed, never held whole."""
    from flask import Response, stream_with_context

    body = download.body
    if not isinstance(body, (bytes, str)):
        body = stream_with_context(body)
    response = Response(body, mimetype=download.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
