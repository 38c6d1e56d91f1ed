"""Weighting runs, their results and their files, for scripts (bearer token, see ``survey.accounts.api_tokens``).

The numbers are those of the pollster pages: both call ``survey.weighting.runs.compute`` and
``survey.reporting.tables.tables`` on the same stored run.
"""
from __future__ import annotations

from flask import abort, jsonify, request

from survey.accounts.ownership import current_pollster, owned_survey_or_404
from survey.api import bp
from survey.api.openapi import component, documented
from survey.extensions import db
from survey.reporting.banner_files import banner_download
from survey.reporting.banners import BannerError, BannerOptions, build_banner
from survey.reporting.comparisons import comparisons_for
from survey.reporting.methodology import snapshot
from survey.reporting.nets import NetError, added_nets
from survey.reporting.publication import download_response, send_download
from survey.reporting.tables import finite_or_none, tables, tables_frame, view_problem
from survey.responses.dataset import questions_of
from survey.responses.quality import FLAG_LABELS
from survey.weighting.requests import plan_run
from survey.weighting.runs import compute, create_run, default_run, publish_run, run_of, runs_of
from survey.weighting.settings import CALFUNS, INTERVAL_METHODS, METHODS, VARIANCE_METHODS, WeightingError
from survey.weighting.target_sets import TARGET_SETS

_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = {"type": ["number", "null"]}

RUN = component(
    "WeightingRun",
    {
        "type": "object",
        "required": ["id", "name", "locked", "published", "created_at", "method", "respondents", "data_hash", "diagnostics",
                     "exclusion_rules", "settings"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": ["string", "null"]},
            "locked": {"type": "boolean", "description": "a locked run cannot be renamed, rerun or deleted"},
            "published": {"type": "boolean", "description": "the run the results endpoints serve by default"},
            "created_at": {"type": "string", "format": "date-time"},
            "method": {"type": "string", "enum": ["rake", "poststratify", "calibrate"]},
            "respondents": {"type": "integer", "description": "number of responses the run used"},
            "data_hash": {"type": "string", "description": "SHA-256 of the run's data file"},
            "settings": {"type": "object", "description": "targets (with their universe, sources and flags), method, "
                         "options, levels merged for the run, and `universe`: the survey's and the targets' populations, "
                         "whether they differ and whether the pollster confirmed weighting across them"},
            "exclusion_rules": {"type": "object", "description": "quality rules that chose the respondents"},
            "diagnostics": {
                "type": "object",
                "description": "design effect, effective n, weight range, convergence, achieved vs target margins",
            },
        },
    },
)

ROW = component(
    "ResultRow",
    {
        "type": "object",
        "required": ["estimate_id", "question", "answer", "estimate", "se", "ci_low", "ci_high", "margin_of_error",
                     "unweighted_n", "effective_n", "deff", "domain_variable", "domain"],
        "properties": {
            "estimate_id": {"type": "string"},
            "question": {"type": "string"},
            "question_text": {"type": "string"},
            "answer": {"type": "string", "description": "option or net code (e.g. 'likely'), or 'mean'"},
            "net": {"type": "boolean", "description": "true for a net: several answers added up"},
            "weighted_to_target": {"type": "boolean",
                                   "description": "a weighting variable's share: the target itself, with no interval"},
            "base": {"type": "string", "description": "who was asked the question, in words"},
            "base_n": {"type": "integer", "description": "respondents who answered the question"},
            "base_weighted_n": {"type": "number", "description": "their weighted number"},
            "answer_label": {"type": "string"},
            "kind": {"type": "string", "enum": ["proportion", "mean"]},
            "domain_variable": {"type": ["string", "null"]},
            "domain": {"type": ["string", "null"]},
            "domain_label": {"type": ["string", "null"]},
            "estimate": _NUMBER,
            "se": _NULLABLE_NUMBER,
            "ci_low": _NULLABLE_NUMBER,
            "ci_high": _NULLABLE_NUMBER,
            "margin_of_error": {"type": ["number", "null"], "description": "t × design-based SE (includes the design effect)"},
            "deff": _NULLABLE_NUMBER,
            "unweighted_n": {"type": "integer"},
            "effective_n": _NULLABLE_NUMBER,
        },
    },
)

RESULTS = component(
    "Results",
    {
        "type": "object",
        "required": ["run", "interval", "by", "degf", "rows", "comparisons"],
        "properties": {
            "run": RUN,
            "interval": {"type": "string", "enum": list(INTERVAL_METHODS)},
            "by": {"type": ["string", "null"]},
            "degf": {"type": "integer", "description": "degrees of freedom of the design"},
            "rows": {"type": "array", "items": ROW},
            "comparisons": {"type": "array", "items": {"type": "object"},
                            "description": "tests against published figures (toplines only)"},
        },
    },
)

_VIEW_QUERY = {
    "ci": {"type": "string", "enum": list(INTERVAL_METHODS), "description": "interval method (default logit)"},
    "by": {"type": "string", "description": "question code to cross by (a single-choice question); omit for toplines"},
    "net": {"type": "string", "description": "add a net: QUESTION:ANSWER+ANSWER (repeatable)"},
}


def run_json(run) -> dict:
    return {
        "id": run.id,
        "name": run.name,
        "locked": run.locked,
        "published": run.published,
        "created_at": run.created_at.isoformat(),
        "method": run.settings["method"],
        "respondents": len(run.response_ids),
        "data_hash": run.data_hash,
        "settings": run.settings,
        "exclusion_rules": run.exclusion_rules,
        "diagnostics": run.diagnostics,
    }


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


@bp.get("/surveys/<slug>/runs")
@documented({"type": "object", "required": ["runs"], "properties": {"runs": {"type": "array", "items": RUN}}},
            tags=("results",))
def weighting_runs(slug: str):
    """Every weighting run of the survey, newest first, with its settings and diagnostics."""
    survey = owned_survey_or_404(slug)
    return jsonify({"runs": [run_json(run) for run in runs_of(survey)]})


def _results(survey, run):
    interval = request.args.get("ci", "logit")
    by = request.args.get("by") or None
    problem = view_problem(interval, by, questions_of(survey))
    if problem:
        abort(400, problem)
    try:
        computed = compute(run, interval, by, nets=added_nets(request.args.getlist("net"), questions_of(survey)))
    except (WeightingError, NetError) as error:
        abort(400, str(error))
    frame = tables_frame(tables(computed))
    rows = [{key: finite_or_none(value) if isinstance(value, float) else value for key, value in row.items()}
            for row in frame.to_dict("records")]
    return jsonify({
        "run": run_json(run),
        "interval": interval,
        "by": by,
        "degf": computed.result["degf"],
        "rows": rows,
        "comparisons": [c.to_dict() for c in comparisons_for(computed, survey)] if by is None else [],
    })


@bp.get("/surveys/<slug>/results")
@documented(RESULTS, tags=("results",), query=_VIEW_QUERY)
def latest_results(slug: str):
    """Weighted toplines (or a crosstab with ``by``) of the survey's published weighting run.

    Each row is one answer's weighted share (or a mean) with its interval, margin of error,
    unweighted and effective n. Only the published run is served here, so a test run never
    changes what subscribers read: 404 until a run is published (``POST .../runs/{run_id}/publish``
    or the weighting page); read any other run at ``.../runs/{run_id}/results``.
    """
    survey = owned_survey_or_404(slug)
    return _results(survey, _published_run(survey))


RUN_REQUEST = component(
    "WeightingRunRequest",
    {
        "type": "object",
        "additionalProperties": False,
        "description": "The weighting form's choices; a missing field takes the form's default. The same checks "
                       "and messages as the form (survey.weighting.requests.plan_run).",
        "properties": {
            "name": {"type": "string", "maxLength": 100},
            "target_set": {"type": "string", "enum": list(TARGET_SETS),
                           "description": "default: the saved targets if any, else the shipped set of the survey's universe"},
            "variables": {"type": "array", "items": {"type": "string"},
                          "description": "target variables to weight by; default: all but the optional ones"},
            "merge": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}},
                      "description": "{variable: {level with no respondents: level to merge it into}}, for this run"},
            "confirm_universe": {"type": "boolean",
                                 "description": "required (true) when the targets describe another population than the survey"},
            "method": {"type": "string", "enum": list(METHODS)},
            "poststratify_by": {"type": "string"},
            "calfun": {"type": "string", "enum": list(CALFUNS)},
            "bounds": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2},
            "trim": {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2,
                     "description": "as multiples of the mean weight"},
            "variance": {"type": "string", "enum": list(VARIANCE_METHODS)},
            "speeder_share": {"type": "number", "minimum": 0.01, "maximum": 0.99},
            "exclude": {"type": "array", "items": {"type": "string", "enum": list(FLAG_LABELS)}},
            "exclude_simulated": {"type": "boolean"},
        },
    },
)


@bp.post("/surveys/<slug>/runs")
@documented(RUN, status=201, tags=("results",), request_body=RUN_REQUEST)
def create_weighting_run(slug: str):
    """Weight the survey's current responses and store the run (not published).

    400 with the form's own message for a request it would refuse: a target level nobody gave
    (merge it with ``merge`` or leave the variable out of ``variables``), targets of another
    universe without ``confirm_universe``, a bad option, or targets the analysis cannot reach.
    """
    survey = owned_survey_or_404(slug)
    choices = request.get_json(silent=True)
    if not isinstance(choices, dict):
        abort(400, "send the weighting choices as a JSON object (Content-Type: application/json); {} takes every default")
    try:
        plan = plan_run(survey, choices)
        run = create_run(survey, plan.settings, plan.rules, current_pollster(), name=plan.name,
                         methodology=snapshot(survey))
    except WeightingError as error:
        db.session.rollback()
        abort(400, str(error))
    db.session.commit()
    return jsonify(run_json(run)), 201


@bp.post("/surveys/<slug>/runs/<int:run_id>/publish")
@documented(RUN, tags=("results",))
def publish_weighting_run(slug: str, run_id: int):
    """Publish the run (and lock it): ``/results`` serves it from now on, in place of any other."""
    survey = owned_survey_or_404(slug)
    run = _run(survey, run_id)
    publish_run(run)
    db.session.commit()
    return jsonify(run_json(run))


@bp.get("/surveys/<slug>/runs/<int:run_id>/results")
@documented(RESULTS, tags=("results",), query=_VIEW_QUERY)
def run_results(slug: str, run_id: int):
    """Weighted toplines (or a crosstab with ``by``) of one weighting run."""
    survey = owned_survey_or_404(slug)
    return _results(survey, _run(survey, run_id))


@bp.get("/surveys/<slug>/runs/<int:run_id>/files/<name>")
@documented(
    {"type": "string", "format": "binary"},
    content_type="application/octet-stream",
    tags=("downloads",),
    query={
        **_VIEW_QUERY,
        "replicates": {"type": "string", "enum": ["jk1"], "description": "add replicate weights (respondent files)"},
    },
)
def run_file(slug: str, run_id: int, name: str):
    """A file of the run: ``name`` is one of spec.yaml, data.csv, respondents.csv|sav|dta|parquet,
    toplines.csv|xlsx, crosstabs.csv|xlsx (with ``by``), codebook.csv|xlsx, methodology.md.

    ``spec.yaml`` with ``data.csv`` reruns with ``python -m analysis run``; respondent files
    carry final weights and no personal data.
    """
    survey = owned_survey_or_404(slug)
    return download_response(survey, _run(survey, run_id), name, request.args)



_BANNER_CELL = {
    "type": "object",
    "required": ["estimate", "se", "n"],
    "properties": {"variable": {"type": "string"}, "level": {"type": "string"}, "estimate": _NULLABLE_NUMBER,
                   "se": _NULLABLE_NUMBER, "ci_low": _NULLABLE_NUMBER, "ci_high": _NULLABLE_NUMBER,
                   "n": {"type": "integer", "description": "unweighted, answering in this column"},
                   "higher_than": {"type": "array", "items": {"type": "string"},
                                   "description": "letters of the columns this cell is significantly higher than"},
                   "low_base": {"type": "boolean"}},
}
BANNER = component(
    "Banner",
    {
        "type": "object",
        "required": ["run", "alpha", "columns", "rows", "independence"],
        "properties": {
            "run": {"type": "integer"},
            "alpha": _NUMBER,
            "min_base": {"type": "integer"},
            "interval": {"type": "string"},
            "degf": {"type": "integer"},
            "columns": {"type": "array", "items": {
                "type": "object", "required": ["variable", "level", "letter", "n", "weighted_n"],
                "properties": {"variable": {"type": "string"}, "level": {"type": "string"}, "label": {"type": "string"},
                               "letter": {"type": "string"}, "n": {"type": "integer"}, "weighted_n": _NUMBER,
                               "low_base": {"type": "boolean"}}}},
            "rows": {"type": "array", "items": {
                "type": "object", "required": ["question", "answer", "net", "total", "cells"],
                "properties": {"question": {"type": "string"}, "question_text": {"type": "string"},
                               "answer": {"type": "string"}, "answer_label": {"type": "string"},
                               "net": {"type": "boolean"}, "total": _BANNER_CELL,
                               "cells": {"type": "array", "items": _BANNER_CELL}}}},
            "independence": {"type": "array", "items": {
                "type": "object", "required": ["question", "variable", "statistic", "ndf", "ddf", "p_value"],
                "properties": {"question": {"type": "string"}, "variable": {"type": "string"},
                               "statistic": _NULLABLE_NUMBER, "ndf": _NULLABLE_NUMBER, "ddf": _NULLABLE_NUMBER,
                               "p_value": _NULLABLE_NUMBER}}},
            "bases": {"type": "array", "items": {"type": "object"}},
        },
    },
)
_BANNER_QUERY = {
    "run": {"type": "integer", "description": "weighting run (default: the survey's default run)"},
    "rows": {"type": "string", "description": "comma-separated question codes (default: every opinion question)"},
    "columns": {"type": "string", "description": "comma-separated banner variables (default: the weighting demographics)"},
    "alpha": {"type": "number", "description": "significance level of the letters (default 0.05)"},
    "min_base": {"type": "integer", "description": "columns with fewer respondents get no letters (default 30)"},
    "ci": {"type": "string", "enum": list(INTERVAL_METHODS), "description": "interval method (default logit)"},
    "net": {"type": "string", "description": "add a net: QUESTION:ANSWER+ANSWER (repeatable)"},
}


def _banner(survey):
    run_id = request.args.get("run", type=int)
    run = _published_run(survey) if run_id is None else _run(survey, run_id)
    try:
        nets = added_nets(request.args.getlist("net"), questions_of(survey))
        return build_banner(run, BannerOptions.from_query(request.args), nets)
    except (BannerError, NetError, WeightingError) as error:
        abort(400, str(error))


@bp.get("/surveys/<slug>/banner")
@documented(BANNER, tags=("results",), query=_BANNER_QUERY)
def banner(slug: str):
    """A banner table: the answers and nets of ``rows`` by the levels of ``columns``, with Total.

    Each cell is a weighted share (0–1) with its design-based SE and unweighted n; ``higher_than``
    lists the letters of the columns of the same banner variable it is significantly higher than
    (design-based pairwise tests at ``alpha``); ``independence`` has the Rao–Scott F test of each
    question by each banner variable.
    """
    return jsonify(_banner(owned_survey_or_404(slug)).to_json())


@bp.get("/surveys/<slug>/banner.<any(xlsx, csv):extension>")
@documented({"type": "string", "format": "binary"}, content_type="application/octet-stream", tags=("downloads",),
            query=_BANNER_QUERY)
def banner_file(slug: str, extension: str):
    """The banner as an XLSX banner book (a sheet per banner variable and a notes sheet) or a CSV."""
    survey = owned_survey_or_404(slug)
    return send_download(banner_download(survey, _banner(survey), extension))
