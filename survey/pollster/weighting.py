"""The weighting page: targets (shipped, uploaded or edited), method and trimming, and the
diagnostics of every run before anyone reads an estimate."""
from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, ListWidget

from survey.accounts.ownership import current_pollster, owned_survey_or_404
from survey.database import id_argument
from survey.extensions import db
from survey.models import TargetSet
from survey.pollster import bp
from survey.pollster.auth import safe_next
from survey.pollster.forms import ActionForm
from survey.questionnaires.validation import UNIVERSE_MAX_LENGTH
from survey.reporting import charts
from survey.reporting.methodology import snapshot
from survey.responses.quality import FLAG_LABELS, ExclusionRules
from survey.security import accepts_upload
from survey.weighting.requests import level_counts, plan_run
from survey.weighting.runs import (
    check_rerun,
    check_targets,
    compute,
    create_run,
    delete_run,
    latest_run,
    lock_run,
    new_responses_since,
    publish_run,
    rename_run,
    run_of,
    runs_of,
    save_targets,
    weighting_variables,
)
from survey.weighting.settings import (
    CALFUNS,
    METHODS,
    VARIANCE_METHODS,
    RunRequestError,
    WeightingError,
    WeightingSettings,
)
from survey.weighting.target_sets import TARGET_SETS, default_target_set, level_labels, target_sets
from survey.weighting.targets import Targets, TargetsFileError, parse_upload, universes_differ


def _choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WeightingForm(FlaskForm):
    """The weighting form's fields. It checks only the CSRF token: every rule is
    ``survey.weighting.requests.plan_run``'s, shared with the API, whose problems land on these fields."""

    name = StringField("Name of the run (optional)", description="e.g. “Week 1, registered-voter targets”")
    target_set = StringField()
    confirm_universe = BooleanField("Weight to these targets anyway")
    method = SelectField("Method", choices=_choices(METHODS.items()), default="rake", validate_choice=False)
    poststratify_by = SelectField("Post-stratify by", choices=[], validate_choice=False)
    calfun = SelectField("Calibration distance", choices=_choices((c, c) for c in CALFUNS), default="raking",
                         validate_choice=False)
    bound_low = StringField("Lower bound on g (final / input weight)", default="0.3")
    bound_high = StringField("Upper bound on g", default="3")
    trim_low = StringField("Trim weights below (× mean weight)")
    trim_high = StringField("Trim weights above (× mean weight)")
    variance = SelectField("Variance", choices=_choices(VARIANCE_METHODS.items()), default="linearization",
                           validate_choice=False)
    speeder_share = StringField("Speeder: completion time under this share of the median",
                                default=str(ExclusionRules().speeder_share))
    exclude = CheckboxesField("Exclude responses flagged as", choices=_choices(FLAG_LABELS.items()),
                              default=list(ExclusionRules().exclude), validate_choice=False)
    exclude_simulated = BooleanField("Exclude simulated responses")
    submit = SubmitField("Run weighting")

    #: where each problem of ``plan_run`` is shown
    FIELD_OF_PROBLEM = {"bounds": "bound_high", "trim": "trim_high", "fields": "submit"}

    def choices(self) -> dict:
        """The request as ``plan_run`` reads it; the target checkboxes and merges are inputs
        named ``variables`` and ``merge:<variable>:<level>``, drawn from the target set shown."""
        merge: dict[str, dict[str, str]] = {}
        for key, into in request.form.items():
            if isinstance(key, str) and key.startswith("merge:") and into:
                _, variable, level = key.split(":", 2)
                merge.setdefault(variable, {})[level] = into
        return {
            "name": self.name.data,
            "target_set": self.target_set.data,
            # a hidden empty "variables" input marks that the checkboxes were offered (none checked is a choice)
            "variables": [v for v in request.form.getlist("variables") if v] if "variables" in request.form else None,
            "merge": merge,
            "confirm_universe": self.confirm_universe.data,
            "method": self.method.data,
            "poststratify_by": self.poststratify_by.data,
            "calfun": self.calfun.data,
            "bounds": [self.bound_low.data, self.bound_high.data],
            "trim": [self.trim_low.data, self.trim_high.data],
            "variance": self.variance.data,
            "speeder_share": self.speeder_share.data,
            "exclude": list(self.exclude.data or ()),
            "exclude_simulated": self.exclude_simulated.data,
        }

    def show_problems(self, problems: dict[str, str]) -> list[str]:
        """Put each problem under its field; return those of no field (merges, target choice)."""
        elsewhere = []
        for key, message in problems.items():
            name = self.FIELD_OF_PROBLEM.get(key, key)
            if name in self._fields and name not in ("target_set", "confirm_universe"):
                self[name].errors = [*self[name].errors, message]
            else:
                elsewhere.append(message)
        return elsewhere


class TargetsUploadForm(FlaskForm):
    targets_file = FileField("Targets file (.csv or .yaml)", validators=[FileRequired(message="Choose a CSV or YAML file.")])
    universe = StringField(
        "Population these targets describe",
        description="e.g. California registered voters; compared with the survey's. A YAML file's universe: is used if empty.",
        validators=[Length(max=UNIVERSE_MAX_LENGTH, message=f"Name the population in at most {UNIVERSE_MAX_LENGTH} characters.")],
    )
    upload = SubmitField("Upload targets")


class TargetsEditForm(FlaskForm):
    """The shares themselves are inputs named ``share:<variable>:<level>``, read in the view."""

    save = SubmitField("Save targets")


class ResetForm(FlaskForm):
    reset = SubmitField("Forget my saved targets")


def _page(survey, weighting_form=None, upload_form=None, edit_form=None, targets=None, problem=None, status=200,
          problems=None):
    run_id = id_argument("run")
    run = run_of(survey, run_id) if run_id else latest_run(survey)
    if run_id and run is None:
        abort(404)
    weighting_form = weighting_form or WeightingForm()
    sets = target_sets(survey)
    set_key = weighting_form.target_set.data or request.args.get("targets")
    if set_key not in sets:
        set_key = default_target_set(survey, sets)
    weighting_form.target_set.data = set_key
    shown = targets or sets[set_key]
    weighting_form.poststratify_by.choices = _choices((v, shown.label(v)) for v in shown.margins)
    if "variables" in request.form:
        included = set(request.form.getlist("variables"))
    else:
        included = set(shown.default_variables)
    n, counts = level_counts(survey)
    histogram = None
    if run is not None:
        weights = _weights(run)
        mean = sum(weights) / len(weights)
        histogram = charts.histogram(f"Distribution of the final weights of {run.title}, as multiples of the mean weight",
                                     [w / mean for w in weights], chart_id="weights", unit=" × mean")
    return render_template(
        "pollster/weighting.html",
        survey=survey,
        targets=shown,
        target_sets={key: TARGET_SETS[key] for key in sets},
        target_set=set_key,
        included=included,
        counts=counts,
        completes=n,
        merges={key: value for key, value in request.form.items() if isinstance(key, str) and key.startswith("merge:")},
        universe_differs=universes_differ(survey.universe, shown.universe),
        labels=level_labels(survey),
        variables=weighting_variables(survey),
        weighting_form=weighting_form,
        upload_form=upload_form or TargetsUploadForm(),
        edit_form=edit_form or TargetsEditForm(),
        reset_form=ResetForm(),
        action_form=ActionForm(),
        run=run,
        histogram=histogram,
        new_responses=new_responses_since(run) if run is not None else 0,
        runs=runs_of(survey),
        problem=problem,
        problems=problems or [],
        methods=METHODS,
    ), status


def _weights(run) -> list[float]:
    return compute(run, estimates=False).result.weights.tolist()


@bp.get("/surveys/<slug>/weighting")
def weighting(slug: str):
    return _page(owned_survey_or_404(slug))


@bp.post("/surveys/<slug>/weighting/run")
def run_weighting(slug: str):
    survey = owned_survey_or_404(slug)
    form = WeightingForm()
    if not form.validate_on_submit():
        return _page(survey, weighting_form=form, problem="The form expired; send it again.", status=400)
    try:
        plan = plan_run(survey, form.choices())
        run = create_run(survey, plan.settings, plan.rules, current_pollster(), name=plan.name,
                         methodology=snapshot(survey))
    except RunRequestError as error:
        db.session.rollback()
        return _page(survey, weighting_form=form, problems=form.show_problems(error.problems), status=400)
    except WeightingError as error:
        db.session.rollback()
        return _page(survey, weighting_form=form, problem=str(error), status=400)
    db.session.commit()
    flash(f"{run.title} done: check the diagnostics below before reading the results.", "info")
    return redirect(url_for("pollster.weighting", slug=slug, run=run.id))


def _owned_run(slug: str, run_id: int):
    survey = owned_survey_or_404(slug)
    run = run_of(survey, run_id)
    if run is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    return survey, run


def _run_change(slug: str, run_id: int, change, done: str, stay: bool = True):
    """Apply ``change`` to the run (a ``weighting_runs`` function); a locked run's refusal is shown on the page."""
    survey, run = _owned_run(slug, run_id)
    try:
        change(run)
    except WeightingError as error:
        db.session.rollback()
        return _page(survey, problem=str(error), status=409 if run.locked else 400)
    db.session.commit()
    flash(done, "info")
    return redirect(url_for("pollster.weighting", slug=slug, run=run_id if stay else None))


@bp.post("/surveys/<slug>/weighting/runs/<int:run_id>/rerun")
def rerun_weighting(slug: str, run_id: int):
    """The same settings and rules on the responses as they are now (new completions included)."""
    survey, old = _owned_run(slug, run_id)
    try:
        check_rerun(old)
        run = create_run(survey, WeightingSettings.from_dict(old.settings),
                         ExclusionRules.from_dict(old.exclusion_rules), current_pollster(), methodology=snapshot(survey))
    except WeightingError as error:
        db.session.rollback()
        return _page(survey, problem=str(error), status=409 if old.locked else 400)
    db.session.commit()
    flash(f"{run.title} repeats {old.title} on {len(run.response_ids)} responses.", "info")
    return redirect(safe_next(request.form.get("next")) or url_for("pollster.weighting", slug=slug, run=run.id))


@bp.post("/surveys/<slug>/weighting/runs/<int:run_id>/publish")
def publish_weighting_run(slug: str, run_id: int):
    """The run subscribers and the API read from now on; publishing locks it."""
    return _run_change(slug, run_id, publish_run, "Published: the API and the results page now serve this run, "
                       "and it is locked.")


@bp.post("/surveys/<slug>/weighting/runs/<int:run_id>/lock")
def lock_weighting_run(slug: str, run_id: int):
    return _run_change(slug, run_id, lock_run, "Locked: this run can no longer be renamed, rerun or deleted.")


@bp.post("/surveys/<slug>/weighting/runs/<int:run_id>/rename")
def rename_weighting_run(slug: str, run_id: int):
    name = request.form.get("name", "")
    return _run_change(slug, run_id, lambda run: rename_run(run, name), "Renamed.")


@bp.post("/surveys/<slug>/weighting/runs/<int:run_id>/delete")
def delete_weighting_run(slug: str, run_id: int):
    return _run_change(slug, run_id, delete_run, f"Run {run_id} deleted.", stay=False)


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
    universe = " ".join((form.universe.data or "").split())
    return _store_targets(survey, replace(targets, universe=universe) if universe else targets, "uploaded")


@bp.post("/surveys/<slug>/weighting/targets")
def edit_targets(slug: str):
    survey = owned_survey_or_404(slug)
    form = TargetsEditForm()
    if not form.validate_on_submit():
        abort(400)
    sets = target_sets(survey)
    old = sets.get(request.form.get("target_set"), sets[default_target_set(survey, sets)])
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
    targets = Targets(margins=margins, population=population_value, sources=sources, name="Edited targets",
                      universe=old.universe, labels=old.labels, optional=tuple(v for v in old.optional if v in margins))
    return _store_targets(survey, targets, "edited")


@bp.post("/surveys/<slug>/weighting/targets/reset")
def reset_targets(slug: str):
    """Forget the pollster's saved targets, so the page offers the shipped sets again."""
    survey = owned_survey_or_404(slug)
    if not ResetForm().validate_on_submit():
        abort(400)
    db.session.execute(sa.delete(TargetSet).where(TargetSet.survey_id == survey.id))
    db.session.commit()
    flash("Your saved targets were removed: the page offers the shipped target sets again.", "info")
    return redirect(url_for("pollster.weighting", slug=slug))
