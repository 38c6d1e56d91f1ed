"""The dashboard of a pollster's surveys, each survey's fieldwork, opening and closing it."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from flask import Response, flash, redirect, render_template, url_for

from survey.reporting.charts import BAR_COLOUR, FONT, GRID_COLOUR, TEXT_COLOUR
from survey.extensions import db
from survey.reporting.fieldwork import fieldwork_summary
from survey.responses.invitations import create_invitations, invitations_csv
from survey.models import Survey, SurveyStatus, utcnow
from survey.pollster import bp
from survey.accounts.ownership import owned_survey_or_404, owned_surveys
from survey.pollster.forms import ActionForm, InvitationUploadForm
from survey.responses.quality import FLAG_LABELS, ExclusionRules


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
    return render_template(
        "pollster/fieldwork.html",
        survey=survey,
        summary=summary,
        chart=completions_chart(summary.completions_by_day) if summary.completions_by_day else None,
        flag_labels=FLAG_LABELS,
        default_exclusions=[FLAG_LABELS[flag].split(" (")[0].lower() for flag in ExclusionRules().exclude],
        action_form=ActionForm(),
        upload_form=upload_form,
    )


@bp.post("/surveys/<slug>/invitations")
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


def completions_chart(days: Sequence[tuple[date, int]]) -> str:
    """Completions per day as SVG columns, with every day's count in ``<desc>`` for screen readers."""
    width, height, left, right, top, bottom = 400, 170, 34, 8, 12, 30
    plot_width, plot_height = width - left - right, height - top - bottom
    tallest = max(count for _, count in days) or 1
    slot = plot_width / len(days)
    columns = []
    for index, (day, count) in enumerate(days):
        column_height = plot_height * count / tallest
        columns.append(
            f'<rect x="{left + index * slot + slot * 0.1:.1f}" y="{top + plot_height - column_height:.1f}" '
            f'width="{slot * 0.8:.1f}" height="{column_height:.1f}" fill="{BAR_COLOUR}">'
            f"<title>{day.isoformat()}: {count}</title></rect>"
        )
    first, last = days[0][0], days[-1][0]
    axis = (
        f'<line x1="{left}" y1="{top + plot_height}" x2="{width - right}" y2="{top + plot_height}" stroke="{GRID_COLOUR}"/>'
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{tallest}</text>'
        f'<text x="{left - 6}" y="{top + plot_height}" text-anchor="end">0</text>'
        f'<text x="{left}" y="{height - 10}" text-anchor="start">{first:%d %b}</text>'
        + (f'<text x="{width - right}" y="{height - 10}" text-anchor="end">{last:%d %b}</text>' if last != first else "")
    )
    reading = "; ".join(f"{day.isoformat()}: {count}" for day, count in days)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="completions-title completions-desc" font-family={quoteattr(FONT)} font-size="13" '
        f'fill="{TEXT_COLOUR}" class="chart columns">'
        f'<title id="completions-title">Completed responses per day</title>'
        f'<desc id="completions-desc">{escape(reading)}.</desc>' + "".join(columns) + axis + "</svg>"
    )
