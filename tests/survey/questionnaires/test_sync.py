"""Loading questionnaires into the database: idempotent, and safe for answers already collected."""
from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Response, Survey
from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.questionnaires.model import QuestionnaireError
from survey.questionnaires.sync import load_into_database, questionnaire_of
from survey.questionnaires.validation import parse
from tests.survey.questionnaires.test_validation import both, minimal, option


def _rows() -> list[tuple]:
    """Every survey row's questionnaire, to see whether anything changed."""
    return [tuple(row) for row in db.session.execute(
        sa.select(Survey.id, Survey.slug, Survey.title, Survey.definition, Survey.source_hash).order_by(Survey.id)
    ).all()]


def _load(document: dict) -> Survey:
    survey = load_into_database(parse(document), db.session)
    db.session.commit()
    return survey


def _respond(survey: Survey) -> None:
    db.session.add(Response(survey_id=survey.id, resume_token_hash="0" * 64))
    db.session.commit()


def test_the_default_questionnaire_loads_and_rebuilds(app):
    with app.app_context():
        questionnaire = load_file(default_questionnaire_path())
        survey = load_into_database(questionnaire, db.session)
        db.session.commit()
        assert survey.slug == "california-2025" and survey.status == "draft"
        db.session.expire_all()
        rebuilt = questionnaire_of(db.session.get(Survey, survey.id))
        assert rebuilt == questionnaire
        region = rebuilt.question("region")
        assert (region.page, region.weighting_variable) == ("where_you_live", "region")
        assert region.option_codes == ("bay_area", "los_angeles", "southern", "central_valley", "north")
        assert [o.anchored for o in rebuilt.question("calexit").options] == [False, False, True]


def test_loading_the_same_file_twice_changes_nothing(app):
    with app.app_context():
        survey = _load(minimal())
        before, source_hash = _rows(), survey.source_hash
        again = load_into_database(parse(minimal()), db.session)
        assert again.id == survey.id
        assert not db.session.dirty and not db.session.new
        db.session.commit()
        assert _rows() == before and again.source_hash == source_hash
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 1


def test_a_new_version_updates_texts_in_place(app):
    with app.app_context():
        survey_id = _load(minimal()).id
        document = minimal()
        document["pages"][0]["questions"][0]["text"] = both("Which party are you registered with?")
        document["pages"][0]["questions"][0]["options"].insert(2, option("green"))
        document["pages"][1]["questions"].reverse()
        survey = _load(document)
        assert survey.id == survey_id
        party = questionnaire_of(survey).question("party")
        assert party.text["en"] == "Which party are you registered with?"
        assert party.option_codes == ("dem", "rep", "green", "not_sure")
        assert [q.code for q in questionnaire_of(survey).questions] == ["party", "age", "issues", "why", "trust"]
        assert survey.definition == document


def test_without_responses_questions_and_options_may_be_removed(app):
    with app.app_context():
        _load(minimal())
        document = minimal()
        del document["pages"][1]["questions"][2]
        del document["pages"][0]["questions"][0]["options"][1]
        survey = _load(document)
        assert [q.code for q in questionnaire_of(survey).questions] == ["party", "age", "trust", "why"]
        assert questionnaire_of(survey).question("party").option_codes == ("dem", "not_sure")


def test_with_responses_codes_cannot_change(app):
    with app.app_context():
        survey = _load(minimal())
        _respond(survey)
        before = _rows()
        document = minimal()
        del document["pages"][1]["questions"][2]  # issues
        document["pages"][0]["questions"][0]["options"][1]["code"] = "gop"  # rep -> gop
        document["pages"][0]["questions"][1]["type"] = "rating"
        document["pages"][0]["questions"][1]["scale_labels"] = {"low": both("Young"), "high": both("Old")}
        document["pages"][0]["questions"][1]["maximum"] = 30
        with pytest.raises(QuestionnaireError) as caught:
            load_into_database(parse(document), db.session)
        prefix = 'survey "test-survey" already has 1 responses, so its codes cannot change: '
        assert caught.value.problems == [
            prefix + 'option "rep" of question "party" would be removed',
            prefix + 'question "age" would change type from number to rating',
            prefix + 'question "issues" would be removed',
        ]
        db.session.rollback()
        assert _rows() == before


def test_with_responses_questions_options_and_texts_may_be_added(app):
    with app.app_context():
        survey = _load(minimal())
        _respond(survey)
        document = minimal()
        document["pages"][0]["questions"][0]["options"].append(option("green"))
        document["pages"][0]["questions"][0]["help"] = both("As on your registration card.")
        document["pages"].append({"id": "third", "title": both("Third"), "questions": [
            {"code": "late", "type": "text", "text": both("Anything else?"), "required": False}
        ]})
        survey = _load(document)
        assert [q.code for q in questionnaire_of(survey).questions][-1] == "late"
        assert questionnaire_of(survey).question("party").help == both("As on your registration card.")


def test_a_survey_keeps_its_status_when_reloaded(app):
    with app.app_context():
        survey = _load(minimal())
        survey.status = "open"
        db.session.commit()
        document = copy.deepcopy(minimal())
        document["title"] = both("Renamed")
        survey = _load(document)
        assert survey.status == "open" and survey.title == both("Renamed")
