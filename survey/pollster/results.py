"""The results page: weighted toplines and crosstabs of one weighting run, with charts and a
comparison with published polls. Every figure is the run's ``run_spec`` result."""
from __future__ import annotations

from typing import Optional

from flask import abort, redirect, render_template, request, url_for

from survey.accounts.ownership import owned_survey_or_404
from survey.database import id_argument
from survey.pollster import bp
from survey.pollster.forms import ActionForm
from survey.reporting.banner_files import banner_download
from survey.reporting.banners import BannerError, BannerOptions, banner_rows, build_banner
from survey.reporting.charts import question_chart
from survey.reporting.comparisons import comparisons_for
from survey.reporting.nets import NetError, added_nets, net_parameter
from survey.reporting.publication import send_download, survey_margin_of_error
from survey.reporting.tables import tables, view_problem
from survey.responses.dataset import crossable, questions_of
from survey.weighting.runs import compute, default_run, latest_run, new_responses_since, run_of
from survey.weighting.settings import INTERVAL_METHODS, WeightingError


def chosen_run(survey):
    """The run named by ``?run=`` (404 if not this survey's), else the published one, else the
    latest, so the pollster sees a test run before publishing it (None before any run)."""
    run_id = id_argument("run")
    if run_id is None:
        return default_run(survey) or latest_run(survey)
    run = run_of(survey, run_id)
    if run is None:
        abort(404)
    return run


def view_options(questions) -> tuple[str, Optional[str]]:
    """The interval method and crosstab variable asked for; 400 for values the page does not offer."""
    interval = request.args.get("ci", "logit")
    by = request.args.get("by") or None
    problem = view_problem(interval, by, questions)
    if problem:
        abort(400, problem)
    return interval, by


def chosen_nets(questions) -> dict:
    """The nets added in the address (``net=QUESTION:A+B``); 400 with the reason for a bad one."""
    try:
        return added_nets(request.args.getlist("net"), questions)
    except NetError as error:
        abort(400, str(error))


@bp.get("/surveys/<slug>/results")
def results(slug: str):
    survey = owned_survey_or_404(slug)
    run = chosen_run(survey)
    if run is None:
        return render_template("pollster/results.html", survey=survey, run=None)
    questions = questions_of(survey)
    if request.args.get("add_net"):  # the "Add a net" form: its ticked answers become one more net= in the address
        arguments = request.args.to_dict(flat=False)
        answers = arguments.pop("net_answer", [])
        arguments["net"] = arguments.get("net", []) + [net_parameter(arguments.pop("add_net")[0], answers)]
        return redirect(url_for("pollster.results", slug=slug, **arguments) + f"#q-{request.args['add_net']}")
    interval, by = view_options(questions)
    nets = chosen_nets(questions)
    try:
        computed = compute(run, interval, by, nets=nets)
    except WeightingError as error:
        return render_template("pollster/results.html", survey=survey, run=run, published_run=default_run(survey),
                               problem=str(error)), 400
    question_tables = tables(computed)
    return render_template(
        "pollster/results.html",
        survey=survey,
        run=run,
        published_run=default_run(survey),
        computed=computed,
        tables=[(table, question_chart(table, f"chart-{table.question.code}")) for table in question_tables],
        comparisons=comparisons_for(computed) if by is None else [],
        interval=interval,
        by=by,
        nets=request.args.getlist("net"),
        intervals=INTERVAL_METHODS,
        crossable=crossable(computed.data.questions),
        new_responses=new_responses_since(run),
        action_form=ActionForm(),
    )


def _banner(survey, run):
    """The banner asked for in the query (400 with the reason for a choice the survey lacks)."""
    try:
        options = BannerOptions.from_query(request.args)
        return options, build_banner(run, options, chosen_nets(questions_of(survey)))
    except (BannerError, WeightingError) as error:
        abort(400, str(error))


@bp.get("/surveys/<slug>/banner")
def banner(slug: str):
    """Banner tables: answers and nets of some questions by banner variables, with letters and tests."""
    survey = owned_survey_or_404(slug)
    run = chosen_run(survey)
    if run is None:
        return render_template("pollster/results.html", survey=survey, run=None)
    questions = questions_of(survey)
    options, table = _banner(survey, run)
    return render_template(
        "pollster/banner.html", survey=survey, run=run, banner=table, options=options,
        row_choices=[(q.code, q.label()) for q in banner_rows(questions)], column_choices=crossable(questions),
        chosen_rows={q.code for q in table.questions}, chosen_columns={code for code, _ in table.variables},
        nets=request.args.getlist("net"), intervals=INTERVAL_METHODS,
    )


def run_or_404(survey, run_id: int):
    run = run_of(survey, run_id)
    if run is None:
        abort(404, f"survey {survey.slug} has no weighting run {run_id}")
    return run


@bp.get("/surveys/<slug>/runs/<int:run_id>/banner.<any(xlsx, csv):extension>")
def banner_file(slug: str, run_id: int, extension: str):
    """The banner of the page as an XLSX banner book or a CSV."""
    survey = owned_survey_or_404(slug)
    return send_download(banner_download(survey, _banner(survey, run_or_404(survey, run_id))[1], extension))


@bp.get("/surveys/<slug>/runs/<int:run_id>/toplines/report")
def topline_report(slug: str, run_id: int):
    """A print-ready topline report: every question's wording, base, answers and nets with margins."""
    survey = owned_survey_or_404(slug)
    run = run_or_404(survey, run_id)
    questions = questions_of(survey)
    interval, _ = view_options(questions)
    try:
        computed = compute(run, interval, nets=chosen_nets(questions))
    except WeightingError as error:
        abort(400, str(error))
    moe, deff = survey_margin_of_error(computed)
    return render_template("pollster/topline_report.html", survey=survey, run=run, computed=computed,
                           tables=tables(computed), interval=INTERVAL_METHODS[interval], moe=moe, deff=deff)
