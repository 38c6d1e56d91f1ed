"""The downloads page and the files of a weighting run, for the pollster's browser.

The files themselves are built in ``survey.reporting.publication.build_download`` and served the same
way by the API, so a file is identical whichever door it leaves by.
"""
from __future__ import annotations

from dataclasses import asdict

from flask import abort, render_template, request

from survey.accounts.ownership import owned_survey_or_404
from survey.pollster import bp
from survey.pollster.results import chosen_nets, chosen_run, run_or_404, view_options
from survey.reporting.charts import question_chart
from survey.reporting.publication import DISCLOSURE_FIELDS, Disclosure, download_response
from survey.reporting.tables import tables
from survey.responses.dataset import crossable, questions_of
from survey.weighting.runs import compute, runs_of
from survey.weighting.settings import INTERVAL_METHODS


@bp.get("/surveys/<slug>/downloads")
def downloads(slug: str):
    survey = owned_survey_or_404(slug)
    run = chosen_run(survey)
    return render_template(
        "pollster/downloads.html",
        survey=survey,
        run=run,
        runs=runs_of(survey),
        crossable=crossable(questions_of(survey)),
        intervals=INTERVAL_METHODS,
        disclosure=asdict(Disclosure.for_survey(survey)),
        disclosure_fields=DISCLOSURE_FIELDS,
    )


@bp.get("/surveys/<slug>/runs/<int:run_id>/files/<name>")
def download_file(slug: str, run_id: int, name: str):
    survey = owned_survey_or_404(slug)
    return download_response(survey, run_or_404(survey, run_id), name, request.args)


@bp.get("/surveys/<slug>/runs/<int:run_id>/charts/<code>.svg")
def download_chart(slug: str, run_id: int, code: str):
    """One question's chart as an SVG file (the same drawing as on the results page)."""
    survey = owned_survey_or_404(slug)
    run = run_or_404(survey, run_id)
    questions = questions_of(survey)
    interval, by = view_options(questions)
    for table in tables(compute(run, interval, by, nets=chosen_nets(questions))):
        if table.question.code == code:
            chart = question_chart(table, f"chart-{code}")
            if chart is None:
                break
            return chart, 200, {
                "Content-Type": "image/svg+xml; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{survey.slug}-run{run.id}-{code}.svg"',
            }
    abort(404, f"question {code!r} has no chart in run {run.id}")
