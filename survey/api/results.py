"""Weighting runs, their results and their files, for scripts (bearer token, see ``survey.accounts.api_tokens``).

The numbers are those of the pollster pages: both call ``survey.weighting.runs.compute`` and
``survey.reporting.tables.tables`` on the same stored run.
"""
from __future__ import annotations

from flask import abort, request

from survey.accounts.ownership import current_pollster, owned_survey_or_404
from survey.api import bp
from survey.api.schemas import (
    BannerQuerySchema,
    BannerSchema,
    FileQuerySchema,
    ResultsSchema,
    ViewQuerySchema,
    WeightingRunListSchema,
    WeightingRunRequestSchema,
    WeightingRunSchema,
)
from survey.extensions import db
from survey.reporting.banner_files import banner_download
from survey.reporting.banners import BannerError, BannerOptions, build_banner
from survey.reporting.comparisons import comparisons_for
from survey.reporting.methodology import snapshot
from survey.reporting.nets import NetError, added_nets
from survey.reporting.publication import download_response, send_download
from survey.reporting.tables import tables, tables_frame, view_problem
from survey.responses.dataset import questions_of
from survey.weighting.requests import plan_run
from survey.weighting.runs import compute, create_run, default_run, publish_run, run_of, runs_of
from survey.weighting.settings import WeightingError


def _run(survey, run_id: int):
    run = run_of(survey, run_id)
    if run is None:
        abort(404, f"survey {survey.slug} has no weighting run {run_id}")
    return run


def _published_run(survey):
    """The run served when none is named: the published one, else 404 saying how to publish one."""
    run = default_run(survey)
    if run is None:
        abort(404, f"survey {survey.slug} has no published weighting run yet; publish one on the weighting page or "
                   f"with POST /api/surveys/{survey.slug}/runs/<run_id>/publish (GET /api/surveys/{survey.slug}/runs "
                   "lists the runs)")
    return run


@bp.route("/surveys/<slug>/runs", tags=["results"])
@bp.response(200, WeightingRunListSchema)
def weighting_runs(slug: str):
    """Every weighting run of the survey, newest first, with its settings and diagnostics."""
    return {"runs": runs_of(owned_survey_or_404(slug))}


def _results(survey, run, ci: str, by: str | None, net: list[str]) -> dict:
    problem = view_problem(ci, by, questions_of(survey))
    if problem:
        abort(400, problem)
    try:
        computed = compute(run, ci, by, nets=added_nets(net, questions_of(survey)))
    except (WeightingError, NetError) as error:
        abort(400, str(error))
    return {
        "run": run,
        "interval": ci,
        "by": by,
        "degf": computed.result.degf,
        "rows": tables_frame(tables(computed)).to_dict("records"),
        "comparisons": [c.to_dict() for c in comparisons_for(computed, survey)] if by is None else [],
    }


@bp.route("/surveys/<slug>/results", tags=["results"])
@bp.arguments(ViewQuerySchema, location="query", as_kwargs=True)
@bp.response(200, ResultsSchema)
def latest_results(slug: str, ci: str, by: str | None, net: list[str]):
    """Weighted toplines (or a crosstab with ``by``) of the survey's published weighting run.

    Each row is one answer's weighted share (or a mean) with its interval, margin of error,
    unweighted and effective n. Only the published run is served here, so a test run never
    changes what subscribers read: 404 until a run is published (``POST .../runs/{run_id}/publish``
    or the weighting page); read any other run at ``.../runs/{run_id}/results``.
    """
    survey = owned_survey_or_404(slug)
    return _results(survey, _published_run(survey), ci, by, net)


@bp.route("/surveys/<slug>/runs", methods=["POST"], tags=["results"])
@bp.arguments(WeightingRunRequestSchema, location="json")
@bp.response(201, WeightingRunSchema)
def create_weighting_run(choices: dict, slug: str):
    """Weight the survey's current responses and store the run (not published).

    400 with the form's own message for a request it would refuse: a target level nobody gave
    (merge it with ``merge`` or leave the variable out of ``variables``), targets of another
    universe without ``confirm_universe``, a bad option, or targets the analysis cannot reach.
    """
    survey = owned_survey_or_404(slug)
    if not request.is_json:
        abort(400, "send the weighting choices as a JSON object (Content-Type: application/json); {} takes every default")
    try:
        plan = plan_run(survey, choices)
        run = create_run(survey, plan.settings, plan.rules, current_pollster(), name=plan.name,
                         methodology=snapshot(survey))
    except WeightingError as error:
        db.session.rollback()
        abort(400, str(error))
    db.session.commit()
    return run


@bp.route("/surveys/<slug>/runs/<int:run_id>/publish", methods=["POST"], tags=["results"])
@bp.response(200, WeightingRunSchema)
def publish_weighting_run(slug: str, run_id: int):
    """Publish the run (and lock it): ``/results`` serves it from now on, in place of any other."""
    survey = owned_survey_or_404(slug)
    run = _run(survey, run_id)
    publish_run(run)
    db.session.commit()
    return run


@bp.route("/surveys/<slug>/runs/<int:run_id>/results", tags=["results"])
@bp.arguments(ViewQuerySchema, location="query", as_kwargs=True)
@bp.response(200, ResultsSchema)
def run_results(slug: str, run_id: int, ci: str, by: str | None, net: list[str]):
    """Weighted toplines (or a crosstab with ``by``) of one weighting run."""
    survey = owned_survey_or_404(slug)
    return _results(survey, _run(survey, run_id), ci, by, net)


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


def _banner(survey, run_id: int | None, net: list[str]):
    run = _published_run(survey) if run_id is None else _run(survey, run_id)
    try:
        return build_banner(run, BannerOptions.from_query(request.args), added_nets(net, questions_of(survey)))
    except (BannerError, NetError, WeightingError) as error:
        abort(400, str(error))


@bp.route("/surveys/<slug>/banner", tags=["results"])
@bp.arguments(BannerQuerySchema, location="query")
@bp.response(200, BannerSchema)
def banner(query: dict, slug: str):
    """A banner table: the answers and nets of ``rows`` by the levels of ``columns``, with Total.

    Each cell is a weighted share (0–1) with its design-based SE and unweighted n; ``higher_than``
    lists the letters of the columns of the same banner variable it is significantly higher than
    (design-based pairwise tests at ``alpha``); ``independence`` has the Rao–Scott F test of each
    question by each banner variable.
    """
    return _banner(owned_survey_or_404(slug), query.get("run"), query["net"]).to_json()


@bp.route("/surveys/<slug>/banner.<any(xlsx, csv):extension>", tags=["downloads"])
@bp.arguments(BannerQuerySchema, location="query")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream")
def banner_file(query: dict, slug: str, extension: str):
    """The banner as an XLSX banner book (a sheet per banner variable and a notes sheet) or a CSV."""
    survey = owned_survey_or_404(slug)
    return send_download(banner_download(survey, _banner(survey, query.get("run"), query["net"]), extension))
