"""The results page: weighted toplines and crosstabs of one weighting run, with charts and a
comparison with published polls. Every figure is the run's ``run_spec`` result."""
from __future__ import annotations

from typing import Optional

from flask import abort, render_template, request

from survey.accounts.ownership import owned_survey_or_404
from survey.pollster import bp
from survey.pollster.forms import ActionForm
from survey.reporting.charts import question_chart
from survey.reporting.comparisons import comparisons_for
from survey.reporting.tables import tables, view_problem
from survey.responses.dataset import crossable, questions_of
from survey.weighting.runs import compute, default_run, latest_run, new_responses_since, run_of
from survey.weighting.settings import INTERVAL_METHODS, WeightingError


def chosen_run(survey):
    """The run named by ``?run=`` (404 if not this survey's), else the published one, else the
    latest, so the pollster sees a test run before publishing it (None before any run)."""
    run_id = request.args.get("run", type=int)
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


@bp.get("/surveys/<slug>/results")
def results(slug: str):
    survey = owned_survey_or_404(slug)
    run = chosen_run(survey)
    if run is None:
        return render_template("pollster/results.html", survey=survey, run=None)
    interval, by = view_options(questions_of(survey))
    try:
        computed = compute(run, interval, by)
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
        comparisons=comparisons_for(computed, survey) if by is None else [],
        interval=interval,
        by=by,
        intervals=INTERVAL_METHODS,
        crossable=crossable(computed.data.questions),
        new_responses=new_responses_since(run),
        action_form=ActionForm(),
    )
