"""The `flask` commands that load questionnaires and set the site up."""
from __future__ import annotations

import re

import sqlalchemy as sa
import yaml

from survey.accounts.passwords import check_password
from survey.extensions import db
from survey.models import Pollster, Survey
from survey.questionnaires.loading import default_questionnaire_path
from tests.survey.questionnaires.test_validation import minimal

PASSWORD_LINE = re.compile(r"Sign in as (\S+) with the password (\S+)")


def _write(tmp_path, document, name="questionnaire.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


def test_load_questionnaire_loads_then_changes_nothing(app, runner, tmp_path):
    path = _write(tmp_path, minimal())
    first = runner.invoke(args=["load-questionnaire", str(path)])
    assert first.exit_code == 0, first.output
    assert first.output == "test-survey: loaded, 5 questions, draft.\n"
    second = runner.invoke(args=["load-questionnaire", str(path), "--open"])
    assert second.output == "test-survey: unchanged, 5 questions, opened.\n"
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey))
        assert survey.status == "open" and survey.opened_at is not None


def test_load_questionnaire_lists_every_problem_and_loads_nothing(app, runner, tmp_path):
    document = minimal()
    document["pages"][0]["questions"][0]["options"][2]["code"] = "dem"
    del document["title"]["es"]
    result = runner.invoke(args=["load-questionnaire", str(_write(tmp_path, document))])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{tmp_path / 'questionnaire.yaml'}: 2 problems, nothing was loaded:",
        '  title: missing Spanish ("es") text',
        '  pages[0].questions[0].options[2]: duplicate code "dem"',
    ]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0


def test_load_questionnaire_reports_yaml_syntax_with_the_line(app, runner, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("slug: x\npages:\n  - id: a\n   title: b\n")
    result = runner.invoke(args=["load-questionnaire", str(path)])
    assert result.exit_code == 1
    assert f"  {path}: line 4, column 4: " in result.stderr


def test_init_site_sets_everything_up_once(app, runner, monkeypatch):
    monkeypatch.delenv("POLLSTER_EMAIL", raising=False)
    monkeypatch.delenv("POLLSTER_PASSWORD", raising=False)
    first = runner.invoke(args=["init-site"])
    assert first.exit_code == 0, first.output
    email, password = PASSWORD_LINE.search(first.output).groups()
    assert email == "pollster@localhost" and len(password) >= 12
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey))
        assert (survey.slug, survey.status) == ("california-2025", "open")
        assert [owner.email for owner in survey.owners] == ["pollster@localhost"]
        assert check_password(survey.owners[0], password)
        before = db.session.execute(sa.select(Survey.id, Survey.definition, Survey.source_hash)).all()
        opened_at = survey.opened_at
    second = runner.invoke(args=["init-site"])
    assert second.exit_code == 0, second.output
    assert "password" not in second.output and password not in second.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Pollster)) == 1
        assert db.session.execute(sa.select(Survey.id, Survey.definition, Survey.source_hash)).all() == before
        assert db.session.scalar(sa.select(Survey.opened_at)) == opened_at


def test_init_site_takes_the_first_pollster_from_the_environment(app, runner, monkeypatch):
    monkeypatch.setenv("POLLSTER_EMAIL", "Chief@Example.org")
    monkeypatch.setenv("POLLSTER_PASSWORD", "a long chosen password")
    result = runner.invoke(args=["init-site"])
    assert result.exit_code == 0, result.output
    assert "password" not in result.output
    with app.app_context():
        pollster = db.session.scalar(sa.select(Pollster))
        assert pollster.email == "chief@example.org"
        assert check_password(pollster, "a long chosen password")


def test_init_site_refuses_a_short_password_from_the_environment(app, runner, monkeypatch):
    monkeypatch.setenv("POLLSTER_PASSWORD", "short")
    result = runner.invoke(args=["init-site"])
    assert result.exit_code == 1
    assert "POLLSTER_EMAIL/POLLSTER_PASSWORD: the password must have at least 12 characters" in result.output


def test_create_pollster_with_a_prompted_password(app, runner, monkeypatch):
    monkeypatch.delenv("POLLSTER_PASSWORD", raising=False)
    runner.invoke(args=["load-questionnaire", str(default_questionnaire_path())])
    typed = "correct horse battery\ncorrect horse battery\n"
    result = runner.invoke(args=["create-pollster", "analyst@example.org", "--owner-of", "california-2025"], input=typed)
    assert result.exit_code == 0, result.output
    assert "Created pollster analyst@example.org." in result.output
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey))
        assert check_password(survey.owners[0], "correct horse battery")
    again = runner.invoke(args=["create-pollster", "analyst@example.org"], input=typed)
    assert again.exit_code == 1 and "already exists" in again.output


def test_create_pollster_names_an_unknown_survey(app, runner, monkeypatch):
    monkeypatch.setenv("POLLSTER_PASSWORD", "a long chosen password")
    result = runner.invoke(args=["create-pollster", "a@example.org", "--owner-of", "nope"])
    assert result.exit_code == 1 and "there is no survey with slug 'nope'" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Pollster)) == 0
