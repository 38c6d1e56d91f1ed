"""Weighting runs, their results and their files, for scripts (bearer token, see ``survey.accounts.api_tokens``).

The numbers are those of the pollster pages: both call ``survey.weighting.runs.compute`` and
``survey.reporting.tables.tables`` on the same stored run.
"""
from __future__ import annotations

from flask import abort

from survey.accounts.ownership import owned_survey_or_404
from survey.api import bp
from survey.api.schemas import FileQuerySchema, ResultsSchema, ViewQuerySchema, WeightingRunListSchema
from survey.reporting.comparisons import comparisons_for
from survey.reporting.publication import download_response
from survey.reporting.tables import tables, tables_frame, view_problem
from survey.responses.dataset import questions_of
from survey.weighting.runs import compute, latest_run, run_of, runs_of
from survey.weighting.settings import WeightingError


def _run(survey, run_id: int):
    run = run_of(survey, run_id)
    if run is None:
        abort(404, f"survey {survey.slug} has no weighting run {run_id}")
    return run


@bp.route("/surveys/<slug>/runs", tags=["results"])
@bp.response(200, WeightingRunListSchema)
def weighting_runs(slug: str):
    """Every weighting run of the survey, newest first, with its settings and diagnostics."""
    return {"runs": runs_of(owned_survey_or_404(slug))}


def _results(survey, run, ci: str, by: str | None) -> dict:
    problem = view_problem(ci, by, questions_of(survey))
    if problem:
        abort(400, problem)
    try:
        computed = compute(run, ci, by)
    except WeightingError as error:
        abort(400, str(error))
    return {
        "run": run,
        "interval": ci,
        "by": by,
        "degf": computed.result["degf"],
        "rows": tables_frame(tables(computed)).to_dict("records"),
        "comparisons": [c.to_dict() for c in comparisons_for(computed)] if by is None else [],
    }


@bp.route("/surveys/<slug>/results", tags=["results"])
@bp.arguments(ViewQuerySchema, location="query", as_kwargs=True)
@bp.response(200, ResultsSchema)
def latest_results(slug: str, ci: str, by: str | None):
    """Weighted toplines (or a crosstab with ``by``) of the latest weighting run.

    Each row is one answer's weighted share (or a mean) with its interval, margin of error,
    unweighted and effective n. 404 until the survey has been weighted.
    """
    survey = owned_survey_or_404(slug)
    run = latest_run(survey)
    if run is None:
        abort(404, f"survey {survey.slug} has not been weighted yet")
    return _results(survey, run, ci, by)


@bp.route("/surveys/<slug>/runs/<int:run_id>/results", tags=["results"])
@bp.arguments(ViewQuerySchema, location="query", as_kwargs=True)
@bp.response(200, ResultsSchema)
def run_results(slug: str, run_id: int, ci: str, by: str | None):
    """Weighted toplines (or a crosstab with ``by``) of one weighting run."""
    survey = owned_survey_or_404(slug)
    return _results(survey, _run(survey, run_id), ci, by)


@bp.route("/surveys/<slug>/runs/<int:run_id>/files/<name>", tags=["downloads"])
@bp.arguments(FileQuerySchema, location="query")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream")
def run_file(options: dict, slug: str, run_id: int, name: str):
    """A file of the run: ``name`` is one of spec.yaml, data.csv, respondents.csv|sav|dta|parquet,
    toplines.csv|xlsx, crosstabs.csv|xlsx (with ``by``), codebook.csv|xlsx, methodology.md.

    ``spec.yaml`` with ``data.csv`` reruns with ``python -m analysis run``; respondent files
    carry final weights and no personal data.
    """
    survey = owned_survey_or_404(slug)
    return download_response(survey, _run(survey, run_id), name, options)
