"""Respondent forms: the consent form and one form class built per questionnaire page.

Every form carries Flask-WTF's CSRF token (checked by ``CSRFProtect`` for every POST) and a
honeypot field that people never see.
Choice fields accept only the codes they offered; a posted code outside them is not a
mistake a person can make, so ``tampered_values`` lets the view refuse the request.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, RadioField, SelectChoice, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from survey.questionnaires.model import AnswerRequired, Question
from survey.respond.texts import localized

FIELD_PREFIX = "q_"  # keeps question codes clear of WTForms' own attribute names ("data", "meta")


class RespondentForm(FlaskForm):
    """A honeypot: a field hidden from people that bots fill in.

    The CSRF token has no field here: ``CSRFProtect`` checks it on every POST before the
    view runs, and the templates write it with ``csrf_token()``. A field of its own signed a
    new token each time a posted form was read, which a saved page never shows.
    """

    class Meta:
        csrf = False

    website = StringField(lazy_gettext("Leave this field empty"))

    def caught_bot(self) -> bool:
        return bool((self.website.data or "").strip())


class ConsentForm(RespondentForm):
    """Agreeing to take part starts a response.

    ``start`` carries a signed, server-drawn resume token, so a double-clicked consent
    starts one response, not two.
    """

    start = HiddenField()


class PageForm(RespondentForm):
    """Base of the per-page classes that ``page_form`` builds."""

    visit = HiddenField()  # signed: which response and page, and when the page was shown

    questions: Sequence[Question] = ()

    def question_fields(self) -> list[tuple[Question, Field]]:
        return [(question, self[FIELD_PREFIX + question.code]) for question in self.questions]

    def tampered_values(self) -> list[str]:
        """Posted choices the page never offered, or several for a one-answer question.

        No respondent's browser sends these; they mean a forged or altered request.
        """
        tampered = []
        for question, field in self.question_fields():
            if question.type not in ("single", "multiple", "rating"):
                continue
            offered = {choice.value for choice in field.choices}
            posted = field.raw_data or []
            tampered += [f"{question.code}={value}" for value in posted if value not in offered]
            if question.type != "multiple" and len(posted) > 1:
                tampered.append(f"{question.code}: {len(posted)} answers to a one-answer question")
        return tampered

    def answers(self) -> dict[str, Any]:
        """What the respondent gave, by question code, as the service expects it."""
        return {question.code: field.data for question, field in self.question_fields()}


class QuestionAnswer:
    """Check a field with the questionnaire's own rule, and say what is wrong in the respondent's words."""

    def __init__(self, question: Question):
        self.question = question

    def __call__(self, form: PageForm, field: Field) -> None:
        field.flags.required = self.question.required
        try:
            self.question.validate_answer(field.data)
        except AnswerRequired:
            raise ValidationError(_required_message(self.question)) from None
        except ValueError:
            raise ValidationError(_invalid_message(self.question)) from None


def _required_message(question: Question) -> str:
    if question.type == "multiple":
        return gettext("Please choose at least one answer.")
    if question.type in ("single", "rating"):
        return gettext("Please choose an answer.")
    return gettext("Please answer this question.")


def _invalid_message(question: Question) -> str:
    if question.type == "number":
        bounds = {"minimum": question.minimum, "maximum": question.maximum}
        if question.integer:
            return gettext("Please enter a whole number from %(minimum)s to %(maximum)s.", **bounds)
        return gettext("Please enter a number from %(minimum)s to %(maximum)s.", **bounds)
    if question.type == "text":
        return gettext("Please keep your answer under %(length)s characters.", length=question.max_length)
    return gettext("Please choose one of the answers shown.")


def _choices(question: Question, language: str, order: Optional[Sequence[str]]) -> list[SelectChoice]:
    if question.type == "rating":
        return [SelectChoice(str(point), str(point)) for point in range(int(question.minimum), int(question.maximum) + 1)]
    # The order drawn for this respondent; options added to the questionnaire since then go last.
    stored = [code for code in order or () if code in question.option_codes]
    codes = stored + [code for code in question.option_codes if code not in stored]
    return [SelectChoice(code, localized(question.option(code).label, language)) for code in codes]


def _field(question: Question, language: str, order: Optional[Sequence[str]]) -> Field:
    label = localized(question.text, language)
    validators = [QuestionAnswer(question)]
    if question.type in ("single", "rating"):
        return RadioField(label, validators, choices=_choices(question, language, order), validate_choice=False)
    if question.type == "multiple":
        return SelectMultipleField(
            label,
            validators,
            choices=_choices(question, language, order),
            validate_choice=False,
            widget=ListWidget(prefix_label=False),
            option_widget=CheckboxInput(),
        )
    if question.type == "number":
        return StringField(label, validators, filters=[_strip])
    return TextAreaField(label, validators, filters=[_strip])


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def page_form(
    questions: Sequence[Question],
    *,
    version: str,
    language: str,
    option_orders: Mapping[str, Sequence[str]],
    answers: Optional[Mapping[str, Any]] = None,
) -> PageForm:
    """A form for the questions shown on one page, prefilled with the answers saved so far.

    ``version`` is the questionnaire's source hash: the form class depends only on it, the
    questions, the language and the option orders, so respondents share it. On a POST
    Flask-WTF reads the submitted values instead of ``answers``.
    """
    orders = tuple(tuple(option_orders.get(q.code) or ()) for q in questions)
    key = (version, tuple(q.code for q in questions), language, orders)
    form_class = _FORM_CLASSES.get(key)
    if form_class is None:
        fields = {FIELD_PREFIX + q.code: _field(q, language, order) for q, order in zip(questions, orders)}
        form_class = type("QuestionnairePageForm", (PageForm,), {**fields, "questions": tuple(questions)})
        if len(_FORM_CLASSES) >= _FORM_CLASS_LIMIT:
            _FORM_CLASSES.clear()
        _FORM_CLASSES[key] = form_class
    data = {FIELD_PREFIX + code: _form_value(value) for code, value in (answers or {}).items()}
    return form_class(data=data)


# Built once per questionnaire version, page's shown questions, language and drawn option
# orders; building a WTForms class costs more than filling one in.
_FORM_CLASSES: dict[tuple, type[PageForm]] = {}
_FORM_CLASS_LIMIT = 1024  # pages with randomized options make one per respondent


def _form_value(value: Any) -> Any:
    if isinstance(value, list):
        return [str(item) for item in value]
    return None if value is None else str(value)
