"""Keep a questionnaire in the database: ``Survey``, ``Question`` and ``Option`` rows.

Loading the file a survey already holds changes nothing; a new version may not recode
answers already collected.
"""
from __future__ import annotations

import copy

import sqlalchemy as sa

from survey.models import Option as OptionRow
from survey.models import Question as QuestionRow
from survey.models import Response, Survey
from survey.questionnaires.model import Question, Questionnaire, QuestionnaireError
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
    """Create or update the survey and its question and option rows; the caller commits.

    Loading the document a survey already holds changes nothing. Once a survey has
    responses, a new version may add questions, options, texts and translations but may
    not remove or retype a question or remove an option: the error lists each such change.
    """
    source_hash = questionnaire.source_hash
    survey = session.scalar(sa.select(Survey).where(Survey.slug == questionnaire.slug))
    if survey is not None and survey.source_hash == source_hash:
        return survey
    if survey is None:
        survey = Survey(slug=questionnaire.slug, questions=[])
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
    survey.universe = questionnaire.universe
    survey.definition = copy.deepcopy(questionnaire.document)
    survey.source_hash = source_hash
    _sync_questions(survey, questionnaire)
    session.flush()
    return survey


def _breaking_changes(survey: Survey, questionnaire: Questionnaire) -> list[str]:
    new = {question.code: question for question in questionnaire.questions}
    changes: list[str] = []
    for row in survey.questions:
        question = new.get(row.code)
        if question is None:
            changes.append(f'question "{row.code}" would be removed')
            continue
        if question.type != row.type:
            changes.append(f'question "{row.code}" would change type from {row.type} to {question.type}')
        for option in row.options:
            if option.code not in question.option_codes:
                changes.append(f'option "{option.code}" of question "{row.code}" would be removed')
    return changes


def _sync_questions(survey: Survey, questionnaire: Questionnaire) -> None:
    existing = {row.code: row for row in survey.questions}
    rows: list[QuestionRow] = []
    position = 0
    for page in questionnaire.pages:
        for question in page.questions:
            row = existing.get(question.code) or QuestionRow(code=question.code, options=[])
            row.page = page.id
            row.position = position
            row.type = question.type
            row.text = question.text
            row.weighting_variable = question.weighting_variable
            _sync_options(row, question)
            rows.append(row)
            position += 1
    survey.questions = rows


def _sync_options(row: QuestionRow, question: Question) -> None:
    existing = {option.code: option for option in row.options}
    options: list[OptionRow] = []
    for position, option in enumerate(question.options):
        option_row = existing.get(option.code) or OptionRow(code=option.code)
        option_row.label = option.label
        option_row.position = position
        option_row.anchored = option.anchored
        options.append(option_row)
    row.options = options
