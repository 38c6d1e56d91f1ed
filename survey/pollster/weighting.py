"""The weighting page: targets (shipped, uploaded or edited), method and trimming, and the
diagnostics of every run before anyone reads an estimate."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, FloatField, SelectField, SelectMultipleField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from survey.accounts.ownership import current_pollster, owned_survey_or_404
from survey.database import id_argument
from survey.extensions import db
from survey.pollster import bp
from survey.pollster.auth import safe_next
from survey.reporting import charts
from survey.responses.quality import FLAG_LABELS, ExclusionRules
from survey.security import accepts_upload
from survey.weighting.reference_data import california_adult_targets
from survey.weighting.runs import (
    check_targets,
    compute,
    create_run,
    current_targets,
    latest_run,
    new_responses_since,
    run_of,
    runs_of,
    save_targets,
    weighting_variables,
)
from survey.weighting.settings import CALFUNS, METHODS, VARIANCE_METHODS, WeightingError, WeightingSettings
from survey.weighting.targets import Targets, TargetsFileError, parse_upload


def _choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _pair(form: FlaskForm, low_name: str, high_name: str, what: str) -> None:
    low, high = form[low_name].data, form[high_name].data
    if (low is None) != (high is None):
        raise ValidationError(f"Give both a lower and an upper {what}, or neither.")
    if low is not None and not 0 < low < high:
        raise ValidationError(f"The lower {what} must be above 0 and below the upper one ({low} and {high}).")


class WeightingForm(FlaskForm):
    method = SelectField("Method", choices=_choices(METHODS.items()), default="rake")
    poststratify_by = SelectField("Post-stratify by", choices=[], validate_choice=False)
    calfun = SelectField("Calibration distance", choices=_choices((c, c) for c in CALFUNS), default="raking")
    bound_low = FloatField("Lower bound on g (final / input weight)", validators=[Optional()], default=0.3)
    bound_high = FloatField("Upper bound on g", validators=[Optional()], default=3.0)
    trim_low = FloatField("Trim weights below (× mean weight)", validators=[Optional()])
    trim_high = FloatField("Trim weights above (× mean weight)", validators=[Optional()])
    variance = SelectField("Variance", choices=_choices(VARIANCE_METHODS.items()), default="linearization")
    speeder_share = FloatField(
        "Speeder: completion time under this share of the median",
        validators=[NumberRange(min=0.01, max=0.99, message="Give a share between 0.01 and 0.99.")],
        default=ExclusionRules().speeder_share,
    )
    exclude = CheckboxesField("Exclude responses flagged as", choices=_choices(FLAG_LABELS.items()),
                              default=list(ExclusionRules().exclude))
    exclude_simulated = BooleanField("Exclude simulated responses")
    submit = SubmitField("Run weighting")

    def validate_bound_high(self, field) -> None:
        _pair(self, "bound_low", "bound_high", "bound")

    def validate_trim_high(self, field) -> None:
        _pair(self, "trim_low", "trim_high", "trimming limit")

    def settings(self, targets: Targets) -> WeightingSettings:
        return WeightingSettings(
            targets=targets,
            method=self.method.data,
            poststratify_by=self.poststratify_by.data if self.method.data == "poststratify" else None,
            calfun=self.calfun.data,
            bounds=(self.bound_low.data, self.bound_high.data) if self.method.data == "calibrate" and self.bound_low.data else None,
            trim=(self.trim_low.data, self.trim_high.data) if self.trim_low.data else None,
            variance=self.variance.data,
        )

    def rules(self) -> ExclusionRules:
        return ExclusionRules(
            speeder_share=self.speeder_share.data,
            exclude=tuple(self.exclude.data or ()),
            exclude_simulated=bool(self.exclude_simulated.data),
        )


class TargetsUploadForm(FlaskForm):
    targets_file = FileField("Targets file (.csv or .yaml)", validators=[FileRequired(message="Choose a CSV or YAML file.")])
    upload = SubmitField("Upload targets")


class TargetsEditForm(FlaskForm):
    """The shares themselves are inputs named ``share:<variable>:<level>``, read in the view."""

    save = SubmitField("Save targets")


class ResetForm(FlaskForm):
    reset = SubmitField("Go back to the shipped defaults")


def _page(survey, weighting_form=None, upload_form=None, edit_form=None, targets=None, problem=None, status=200):
    run_id = id_argument("run")
    run = run_of(survey, run_id) if run_id else latest_run(survey)
    if run_id and run is None:
        abort(404)
    targets = targets or current_targets(survey)
    weighting_form = weighting_form or WeightingForm()
    weighting_form.poststratify_by.choices = _choices((v, v) for v in targets.margins)
    histogram = None
    if run is not None:
        weights = _weights(run)
        mean = sum(weights) / len(weights)
        histogram = charts.histogram(f"Distribution of the final weights of run {run.id}, as multiples of the mean weight",
                                     [w / mean for w in weights], chart_id="weights", unit=" × mean")
    return render_template(
        "pollster/weighting.html",
        survey=survey,
        targets=targets,
        variables=weighting_variables(survey),
        weighting_form=weighting_form,
        upload_form=upload_form or TargetsUploadForm(),
        edit_form=edit_form or TargetsEditForm(),
        reset_form=ResetForm(),
        run=run,
        histogram=histogram,
        new_responses=new_responses_since(run) if run is not None else 0,
        runs=runs_of(survey),
        problem=problem,
        methods=METHODS,
    ), status


def _weights(run) -> list[float]:
    return list(compute(run, estimates=False).result["weights"])


@bp.get("/surveys/<slug>/weighting")
def weighting(slug: str):
    return _page(owned_survey_or_404(slug))


@bp.post("/surveys/<slug>/weighting/run")
def run_weighting(slug: str):
    survey = owned_survey_or_404(slug)
    targets = current_targets(survey)
    form = WeightingForm()
    form.poststratify_by.choices = _choices((v, v) for v in targets.margins)
    if not form.validate_on_submit():
        return _page(survey, weighting_form=form, status=400)
    try:
        run = create_run(survey, form.settings(targets), form.rules(), current_pollster())
    except WeightingError as error:
        db.session.rollback()
        return _page(survey, weighting_form=form, problem=str(error), status=400)
    db.session.commit()
    flash(f"Weighting run {run.id} done: check the diagnostics below before reading the results.", "info")
    return redirect(url_for("pollster.weighting", slug=slug, run=run.id))


@bp.post("/surveys/<slug>/weighting/runs/<int:run_id>/rerun")
def rerun_weighting(slug: str, run_id: int):
    """The same settings and rules on the responses as they are now (new completions included)."""
    survey = owned_survey_or_404(slug)
    old = run_of(survey, run_id)
    if old is None:
        abort(404)
    if not ResetForm().validate_on_submit():
        abort(400)
    try:
        run = create_run(survey, WeightingSettings.from_dict(old.settings),
                         ExclusionRules.from_dict(old.exclusion_rules), current_pollster())
    except WeightingError as error:
        db.session.rollback()
        return _page(survey, problem=str(error), status=400)
    db.session.commit()
    flash(f"Weighting run {run.id} repeats run {old.id} on {len(run.response_ids)} responses.", "info")
    return redirect(safe_next(request.form.get("next")) or url_for("pollster.weighting", slug=slug, run=run.id))


def _store_targets(survey, targets: Targets, form_name: str):
    try:
        check_targets(survey, targets)
    except WeightingError as error:
        return _page(survey, targets=targets, problem=f"These targets were not saved: {error}", status=400)
    save_targets(survey, targets, current_pollster())
    db.session.commit()
    flash(f"Targets saved ({form_name}). Run the weighting again to use them.", "info")
    return redirect(url_for("pollster.weighting", slug=survey.slug))


@bp.post("/surveys/<slug>/weighting/targets/upload")
@accepts_upload
def upload_targets(slug: str):
    survey = owned_survey_or_404(slug)
    form = TargetsUploadForm()
    if not form.validate_on_submit():
        return _page(survey, upload_form=form, status=400)
    upload = form.targets_file.data
    try:
        targets = parse_upload(upload.filename or "targets", upload.read())
    except TargetsFileError as error:
        return _page(survey, upload_form=form, problem=f"The file could not be read: {error}", status=400)
    return _store_targets(survey, targets, "uploaded")


@bp.post("/surveys/<slug>/weighting/targets")
def edit_targets(slug: str):
    survey = owned_survey_or_404(slug)
    form = TargetsEditForm()
    if not form.validate_on_submit():
        abort(400)
    old = current_targets(survey)
    margins: dict[str, dict[str, float]] = {}
    problems = []
    for key, value in request.form.items():
        if not isinstance(key, str) or not key.startswith("share:"):  # a multipart part without a name has key None
            continue
        _, variable, level = (key.split(":", 2) + ["", ""])[:3]
        if not variable or not level:
            problems.append(f"the field {key[:40]!r} does not name a variable and a level (share:<variable>:<level>)")
            continue
        try:
            margins.setdefault(variable, {})[level] = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            problems.append(f"the share of {level!r} in {variable!r} is {value!r}, not a number")
    if problems:
        return _page(survey, problem="These targets were not saved: " + "; ".join(problems), status=400)
    sources = {v: request.form.get(f"source:{v}", old.sources.get(v, "")).strip() for v in margins}
    population = request.form.get("population", "").strip()
    try:
        population_value = float(population) if population else None
    except ValueError:
        return _page(survey, problem=f"These targets were not saved: the population {population!r} is not a number", status=400)
    targets = Targets(margins=margins, population=population_value, sources=sources, name="Edited targets")
    return _store_targets(survey, targets, "edited")


@bp.post("/surveys/<slug>/weighting/targets/reset")
def reset_targets(slug: str):
    survey = owned_survey_or_404(slug)
    if not ResetForm().validate_on_submit():
        abort(400)
    defaults = california_adult_targets()
    asked = weighting_variables(survey)
    save_targets(survey, defaults.only([v for v in defaults.margins if v in asked]), current_pollster())
    db.session.commit()
    flash("Targets reset to the shipped defaults.", "info")
    return redirect(url_for("pollster.weighting", slug=slug))
