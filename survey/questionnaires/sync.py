"""Keep a questionnaire in the database: the ``Survey`` row and its ``definition``.

The stored document is the one copy of the questionnaire; ``questionnaire_of`` rebuilds its
objects. Loading the file a survey already holds changes nothing; a new version may not
recode answers already collected.
"""
from __future__ import annotations

import copy

import sqlalchemy as sa

from survey.models import Response, Survey
from survey.questionnaires.model import Questionnaire, QuestionnaireError
from survey.questionnaires.validation import parse

_FROM_SURVEY_CACHE: dict[str, Questionnaire] = {}


def questionnaire_of(survey: Survey) -> Questionnaire:
    """Rebuild the questionnaire a survey was loaded from (cached by its source hash)."""
    cached = _FROM_SURVEY_CACHE.get(survey.source_hash)
    if cached is None:
        cached = parse(survey.definition)
        if len(_FROM_SURVEY_CACHE) >= 64:
            _FROM_SURVEY_CACHE.clear()
        _FROM_SURVEY_CACHE[survey.source_hash] = cached
    return cached


def load_into_database(questionnaire: Questionnaire, session: sa.orm.Session) -> Survey:
    """Create or update the survey from the questionnaire; the caller commits.

    Loading the document a survey already holds changes nothing. Once a survey has
    responses, a new version may add questions, options, texts and translations but may
    not remove or retype a question or remove an option: the error lists each such change.
    """
    source_hash = questionnaire.source_hash
    survey = session.scalar(sa.select(Survey).where(Survey.slug == questionnaire.slug))
    if survey is not None and survey.source_hash == source_hash:
        return survey
    if survey is None:
        survey = Survey(slug=questionnaire.slug)
        session.add(survey)
    else:
        response_count = session.scalar(
            sa.select(sa.func.count()).select_from(Response).where(Response.survey_id == survey.id)
        )
        if response_count:
            changes = _breaking_changes(survey, questionnaire)
            if changes:
                raise QuestionnaireError(
                    [f'survey "{survey.slug}" already has {response_count} responses, so its codes cannot change: {change}'
                     for change in changes]
                )
    survey.title = questionnaire.title
    for item, value in questionnaire.methodology.items():  # the file proposes; the pollster's edits stay
        if getattr(survey, item) is None:
            setattr(survey, item, value)
    survey.universe = questionnaire.universe
    survey.definition = copy.deepcopy(questionnaire.document)
    survey.source_hash = source_hash
    session.flush()
    return survey


def _breaking_changes(survey: Survey, questionnaire: Questionnaire) -> list[str]:
    new = {question.code: question for question in questionnaire.questions}
    changes: list[str] = []
    for old in questionnaire_of(survey).questions:
        question = new.get(old.code)
        if question is None:
            changes.append(f'question "{old.code}" would be removed')
            continue
        if question.type != old.type:
            changes.append(f'question "{old.code}" would change type from {old.type} to {question.type}')
        for code in old.option_codes:
            if code not in question.option_codes:
                changes.append(f'option "{code}" of question "{old.code}" would be removed')
    return changes
