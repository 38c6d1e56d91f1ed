"""The methodology page: the disclosure items only the pollster knows, and each run's
statement as a print-ready page (the same text as the Markdown download)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for

from survey.accounts.ownership import owned_survey_or_404
from survey.extensions import db
from survey.pollster import bp
from survey.pollster.forms import MethodologyForm
from survey.pollster.results import run_or_404
from survey.reporting.methodology import Disclosure, methodology_html, methodology_markdown
from survey.weighting.runs import compute, runs_of
from survey.weighting.settings import WeightingError


@bp.route("/surveys/<slug>/methodology", methods=["GET", "POST"])
def methodology(slug: str):
    """Edit the survey's disclosure items; each new weighting run keeps a copy of them."""
    survey = owned_survey_or_404(slug)
    form = MethodologyForm(obj=survey)
    if form.validate_on_submit():
        form.store(survey)
        db.session.commit()
        flash("Methodology saved. Weighting runs made from now on carry these items; earlier runs keep theirs.", "info")
        return redirect(url_for("pollster.methodology", slug=slug))
    return render_template(
        "pollster/methodology.html", survey=survey, form=form, runs=runs_of(survey),
        missing=Disclosure.of_survey(survey).missing,
    ), 400 if form.errors else 200


@bp.get("/surveys/<slug>/runs/<int:run_id>/methodology")
def methodology_statement(slug: str, run_id: int):
    """The statement of one run as HTML, styled for printing."""
    survey = owned_survey_or_404(slug)
    run = run_or_404(survey, run_id)
    try:
        markdown = methodology_markdown(compute(run), survey)
    except WeightingError as error:
        abort(400, str(error))
    return render_template("pollster/statement.html", survey=survey, run=run, statement=methodology_html(markdown))
