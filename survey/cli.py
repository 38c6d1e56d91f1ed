"""`flask` commands: set up the database, load questionnaires, accounts, invitations, simulation."""
from __future__ import annotations

import os
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from survey.accounts.passwords import create_pollster, generate_password
from survey.extensions import db
from survey.models import Pollster, Survey, SurveyStatus, utcnow
from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.questionnaires.model import QuestionnaireError
from survey.questionnaires.sync import load_into_database, questionnaire_of
from survey.responses import quality_facts
from survey.responses.invitations import create_invitations, invitations_csv, read_panel_ids
from survey.responses.service import expire_browser_hashes
from survey.responses.simulate import simulate


def register_commands(app: Flask) -> None:
    """Attach the project's commands to ``flask``."""
    app.cli.add_command(invite_command)
    app.cli.add_command(load_questionnaire_command)
    app.cli.add_command(init_site_command)
    app.cli.add_command(create_pollster_command)
    app.cli.add_command(simulate_command)
    app.cli.add_command(expire_paradata_command)


@click.command("invite")
@click.argument("slug")
@click.argument("panel_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="New CSV file to write panel_id, token and link to, for the panel company.")
@click.option("--base-url", envvar="SURVEY_BASE_URL", default="http://127.0.0.1:5000", show_default=True,
              help="The site's public address, used in the links (or SURVEY_BASE_URL).")
@with_appcontext
def invite_command(slug: str, panel_csv: Path, out_path: Path, base_url: str) -> None:
    """Create one-time invitation links for the panel IDs in PANEL_CSV (a column headed panel_id).

    Only hashes of the tokens are stored, so the file written to --out is the only copy of the links.
    """
    survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
    if survey is None:
        raise click.ClickException(f"there is no survey with slug {slug!r}; load its questionnaire first")
    if out_path.exists():
        raise click.ClickException(f"{out_path} already exists; choose a new file (tokens are written only once)")
    try:
        created = create_invitations(survey, read_panel_ids(panel_csv.read_bytes()))
    except ValueError as error:
        db.session.rollback()
        raise click.ClickException(f"{panel_csv}: {error}") from None
    with current_app.test_request_context(base_url=base_url):
        links = invitations_csv(created)
    descriptor = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # links are credentials
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
        out.write(links)
    db.session.commit()
    click.echo(f"Created {len(created)} invitations to {slug}; the links are in {out_path} and nowhere else.")


def _open(survey: Survey) -> bool:
    """Open a survey to respondents; False when it already was."""
    if survey.status == SurveyStatus.OPEN.value:
        return False
    survey.status = SurveyStatus.OPEN.value
    survey.opened_at = utcnow()
    return True


def _load_questionnaire(path: Path) -> tuple[Survey, bool]:
    """Validate and load a file, or stop with every problem listed by its place; True when it changed."""
    try:
        questionnaire = load_file(path)
        loaded_hash = db.session.scalar(sa.select(Survey.source_hash).where(Survey.slug == questionnaire.slug))
        survey = load_into_database(questionnaire, db.session)
        if loaded_hash is not None and loaded_hash != survey.source_hash:
            # a new version can add battery items or checks: the responses' quality facts are redone
            # here, not by the first fieldwork page that notices (30 s of CPU at 100,000 completes)
            quality_facts.record(db.session.connection(), survey.id, questionnaire, survey.source_hash)
        return survey, loaded_hash != survey.source_hash
    except QuestionnaireError as error:
        db.session.rollback()
        count = len(error.problems)
        click.echo(f"{path}: {count} problem{'' if count == 1 else 's'}, nothing was loaded:", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        raise click.exceptions.Exit(1) from None


@click.command("load-questionnaire")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--open", "open_survey", is_flag=True, help="Open the survey to respondents once loaded.")
@with_appcontext
def load_questionnaire_command(path: Path, open_survey: bool) -> None:
    """Validate the questionnaire file PATH and create or update its survey (same file twice: no change)."""
    survey, changed = _load_questionnaire(path)
    opened = _open(survey) if open_survey else False
    db.session.commit()
    questions = len(questionnaire_of(survey).questions)
    click.echo(f"{survey.slug}: {'loaded' if changed else 'unchanged'}, {questions} questions, "
               f"{'opened' if opened else survey.status}.")


@click.command("init-site")
@with_appcontext
def init_site_command() -> None:
    """Migrate the database, load and open the default questionnaire, and make sure a pollster exists.

    Safe to run again: nothing changes and no new password is printed.
    """
    from flask_migrate import upgrade

    upgrade()
    survey, _changed = _load_questionnaire(default_questionnaire_path(current_app.config["DEFAULT_QUESTIONNAIRE"]))
    _open(survey)
    pollster = db.session.scalar(sa.select(Pollster).order_by(Pollster.id).limit(1))
    generated_password = None
    if pollster is None:
        email = os.environ.get("POLLSTER_EMAIL") or "pollster@localhost"
        password = os.environ.get("POLLSTER_PASSWORD")
        if not password:
            password = generated_password = generate_password()
        try:
            pollster = create_pollster(email, password)
        except ValueError as error:
            db.session.rollback()
            raise click.ClickException(f"cannot create the first pollster from POLLSTER_EMAIL/POLLSTER_PASSWORD: {error}")
    if pollster not in survey.owners:
        survey.owners.append(pollster)
    db.session.commit()
    click.echo(f"Survey {survey.slug} is {survey.status}; pollster {pollster.email} owns it.")
    if generated_password:
        click.echo(f"Sign in as {pollster.email} with the password {generated_password}")
        click.echo("It is shown only this once; set POLLSTER_PASSWORD before the first run to choose your own.")


@click.command("create-pollster")
@click.argument("email")
@click.password_option(envvar="POLLSTER_PASSWORD", help="The password (prompted, or from POLLSTER_PASSWORD).")
@click.option("--owner-of", "slugs", multiple=True, metavar="SLUG", help="Make the pollster an owner of this survey.")
@with_appcontext
def create_pollster_command(email: str, password: str, slugs: tuple[str, ...]) -> None:
    """Create a pollster account that signs in with EMAIL."""
    try:
        pollster = create_pollster(email, password)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    for slug in slugs:
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
        if survey is None:
            db.session.rollback()
            raise click.ClickException(f"there is no survey with slug {slug!r}")
        survey.owners.append(pollster)
    db.session.commit()
    click.echo(f"Created pollster {pollster.email}.")


@click.command("simulate")
@click.argument("completions", type=click.IntRange(min=1))
@click.option("--survey", "slug", help="The survey's slug (default: the default questionnaire's).")
@click.option("--seed", type=int, help="Seed for a reproducible run.")
@with_appcontext
def simulate_command(completions: int, slug: str | None, seed: int | None) -> None:
    """Store COMPLETIONS complete simulated respondents (and the screen-outs and break-offs on the way).

    They go through the same code as real respondents and are marked simulated.
    """
    slug = slug or current_app.config["DEFAULT_QUESTIONNAIRE"]
    survey = db.session.scalar(sa.select(Survey).where(Survey.slug == slug))
    if survey is None:
        raise click.ClickException(f"there is no survey with slug {slug!r}; run `flask init-site` or load it first")
    report = simulate(survey, completions, seed=seed)
    click.echo(
        f"{slug}: {report.started} simulated respondents started, {report.completed} completed "
        f"({report.speeders} speeders, {report.failed_attention} failed the attention check), "
        f"{report.screened_out} screened out, {report.broke_off} broke off."
    )


@click.command("expire-paradata")
@with_appcontext
def expire_paradata_command() -> None:
    """Clear the browser hash of responses older than BROWSER_HASH_DAYS, as the consent page promises.

    Run it daily (cron or a systemd timer; see docs/deploy.md).
    """
    days = current_app.config["BROWSER_HASH_DAYS"]
    cleared = expire_browser_hashes(days)
    db.session.commit()
    click.echo(f"Cleared the browser hash of {cleared} response{'s' if cleared != 1 else ''} started over {days} days ago.")
