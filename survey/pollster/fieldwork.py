"""The dashboard of a pollster's surveys, each survey's fieldwork, opening and closing it."""
from __future__ import annotations

from flask import Response, flash, redirect, render_template, stream_with_context, url_for

from survey.accounts.ownership import owned_survey_or_404, owned_surveys
from survey.extensions import db
from survey.models import Survey, SurveyStatus, utcnow
from survey.pollster import bp
from survey.pollster.forms import ActionForm, InvitationUploadForm
from survey.reporting.charts import completions_chart
from survey.reporting.fieldwork import answer_counts, closed_questions, fieldwork_summary, frequencies
from survey.reporting.raw_data import raw_data_csv
from survey.responses.invitations import create_invitations, invitations_csv
from survey.responses.quality import FLAG_LABELS, ExclusionRules
from survey.security import accepts_upload
from survey.weighting.target_sets import default_target_set, target_sets


@bp.get("/")
def dashboard():
    surveys = owned_surveys()
    return render_template(
        "pollster/dashboard.html",
        surveys=[(survey, fieldwork_summary(survey, quality=False)) for survey in surveys],
    )


@bp.get("/surveys/<slug>/")
def survey(slug: str):
    survey = owned_survey_or_404(slug)
    return render_template("pollster/survey.html", survey=survey, summary=fieldwork_summary(survey, quality=False), action_form=ActionForm())


@bp.get("/surveys/<slug>/fieldwork")
def fieldwork(slug: str):
    return _fieldwork_page(owned_survey_or_404(slug), upload_form=InvitationUploadForm())


def _fieldwork_page(survey: Survey, upload_form: InvitationUploadForm) -> str:
    summary = fieldwork_summary(survey)
    sets = target_sets(survey)
    targets = sets[default_target_set(survey, sets)]
    counts = answer_counts(survey, [q.code for q in closed_questions(survey)])
    return render_template(
        "pollster/fieldwork.html",
        survey=survey,
        summary=summary,
        targets=targets,
        composition=frequencies(survey, targets, counts=counts),
        frequencies=frequencies(survey, counts=counts),
        chart=completions_chart(summary.completions_by_day) if summary.completions_by_day else None,
        flag_labels=FLAG_LABELS,
        default_exclusions=[FLAG_LABELS[flag].split(" (")[0].lower() for flag in ExclusionRules().exclude],
        action_form=ActionForm(),
        upload_form=upload_form,
    )


@bp.get("/surveys/<slug>/fieldwork/raw-data.csv")
def raw_data(slug: str):
    """Every response so far with its answers and paradata, unweighted; streamed."""
    survey = owned_survey_or_404(slug)
    filename = f"{survey.slug}-raw-unweighted-{utcnow():%Y%m%d-%H%M}.csv"
    return Response(
        stream_with_context(raw_data_csv(survey)),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


@bp.post("/surveys/<slug>/invitations")
@accepts_upload
def upload_invitations(slug: str):
    """Create one invitation per panel ID in the uploaded CSV and answer with the links file.

    The file is the only copy of the tokens (only hashes are stored), so it is sent once,
    in the response to the upload, and never cached.
    """
    survey = owned_survey_or_404(slug)
    form = InvitationUploadForm()
    if form.validate_on_submit():
        try:
            created = create_invitations(survey, form.panel_ids)
        except ValueError as error:
            form.panel_ids_csv.errors.append(str(error))
        else:
            db.session.commit()
            filename = f"{survey.slug}-invitations-{utcnow():%Y%m%d-%H%M%S}.csv"
            return Response(
                invitations_csv(created),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
            )
    return _fieldwork_page(survey, upload_form=form), 400


@bp.post("/surveys/<slug>/status/<any(open, closed):status>")
def set_status(slug: str, status: str):
    """Open a survey to respondents, or close it; reopening clears the closing time."""
    survey = owned_survey_or_404(slug)  # the CSRF token was checked by CSRFProtect before this view
    now = utcnow()
    if status == SurveyStatus.OPEN.value and not survey.is_open:
        survey.status, survey.opened_at, survey.closed_at = status, survey.opened_at or now, None
        flash(f"{survey.slug} is open: respondents can start it.", "info")
    elif status == SurveyStatus.CLOSED.value and survey.is_open:
        survey.status, survey.closed_at = status, now
        flash(f"{survey.slug} is closed: no new responses are accepted.", "info")
    db.session.commit()
    return redirect(url_for("pollster.survey", slug=survey.slug))
