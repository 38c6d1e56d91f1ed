"""The questionnaire as small immutable objects: pages, questions, options, conditions.

These are what the rest of the site reads; ``validation.parse`` builds them from a document
and ``sync`` keeps them in the database. The file format is documented in
``docs/questionnaire.md``.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union

QuestionType = Literal["single", "multiple", "rating", "number", "text"]
QUESTION_TYPES: tuple[str, ...] = ("single", "multiple", "rating", "number", "text")
CHOICE_TYPES = ("single", "multiple")
NUMBER_TYPES = ("number", "rating")
OPTION_SEPARATOR = "__"  # a multiple-choice question's frame column per option: ``<question>__<option>``
REQUIRED_LANGUAGES = ("en", "es")
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")
OPTION_CODE = re.compile(r"[a-z0-9][a-z0-9_+\-]*\Z")
SLUG = re.compile(r"[a-z0-9][a-z0-9\-]*\Z")
LANGUAGE_CODE = re.compile(r"[a-z]{2}\Z")
MAX_CODE_LENGTH = 64
MAX_RATING_POINTS = 21
DEFAULT_TEXT_LENGTH = 2000
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class QuestionnaireError(Exception):
    """A questionnaire that cannot be used; ``problems`` lists each mistake with its place."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class AnswerRequired(ValueError):
    """A required question was left empty: the respondent should be asked again, not refused."""



@dataclass(frozen=True)
class Option:
    code: str
    label: dict[str, str]
    anchored: bool = False


@dataclass(frozen=True)
class AnswerCondition:
    """True when an earlier answer is (``in``), is not (``not_in``) among codes, or passes a bound."""

    question: str
    operator: Literal["in", "not_in", "at_least", "at_most"]
    values: tuple[Any, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        answer = answers.get(self.question)
        if answer is None or answer == [] or answer == "":
            return False  # an unanswered or skipped question satisfies no condition
        if self.operator in ("in", "not_in"):
            chosen = set(answer) if isinstance(answer, (list, tuple)) else {answer}
            matched = bool(chosen & set(self.values))
            return matched if self.operator == "in" else not matched
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            return False
        bound = self.values[0]
        return answer >= bound if self.operator == "at_least" else answer <= bound

    def in_words(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Who this condition asks, in English, with the earlier question's option ``labels``."""
        words = {"in": "answered", "not_in": "did not answer", "at_least": "answered at least",
                 "at_most": "answered at most"}[self.operator]
        answers = " or ".join(f"“{labels.get(str(value), value)}”" for value in self.values)
        return {"en": f"Asked of those who {words} {answers} to {self.question}"}


@dataclass(frozen=True)
class CombinedCondition:
    """``all`` (every condition holds) or ``any`` (at least one does)."""

    mode: Literal["all", "any"]
    conditions: tuple[Condition, ...]

    def holds(self, answers: Mapping[str, Any]) -> bool:
        results = (condition.holds(answers) for condition in self.conditions)
        return all(results) if self.mode == "all" else any(results)


Condition = Union[AnswerCondition, CombinedCondition]


@dataclass(frozen=True)
class Screener:
    """Answers that end the survey, and what the respondent is told when they do."""

    end_if: tuple[str, ...]
    message: dict[str, str]


@dataclass(frozen=True)
class Net:
    """Answers reported together as one row, e.g. ``likely`` = very + somewhat likely.

    ``label`` is the questionnaire's own wording, else the answers' labels joined by "or".
    """

    code: str
    answers: tuple[str, ...]
    label: dict[str, str]

    @classmethod
    def from_document(cls, code: str, value: Any, options: Iterable[Option]) -> "Net":
        """A net as a file writes it: a list of answers, or ``{answers: [...], label: {...}}``."""
        answers = value.get("answers") if isinstance(value, Mapping) else value
        label = value.get("label") if isinstance(value, Mapping) else None
        if not label:
            labels = {o.code: o.label for o in options}
            languages = {language for answer in answers for language in labels.get(answer, {})}
            label = {language: _or_list([labels.get(a, {}).get(language, a) for a in answers], language)
                     for language in sorted(languages)}
        return cls(code=str(code), answers=tuple(str(a) for a in answers), label=dict(label))


def _or_list(labels: list[str], language: str) -> str:
    word = {"es": "o"}.get(language, "or")
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} {word} {labels[-1]}"


@dataclass(frozen=True)
class ScaleLabels:
    low: dict[str, str]
    high: dict[str, str]


@dataclass(frozen=True)
class Question:
    """One question: what the respondent's form asks and checks, and what the frame, tables,
    banners, downloads and the API report (``survey.responses.dataset`` makes its columns)."""

    code: str
    type: QuestionType
    text: dict[str, str]
    options: tuple[Option, ...] = ()
    required: bool = True
    randomize: bool = False
    show_if: Condition | None = None
    screener: Screener | None = None
    attention_check: str | None = None
    weighting_variable: str | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    integer: bool = True
    scale_labels: ScaleLabels | None = None
    max_length: int | None = None
    help: dict[str, str] | None = None
    nets: tuple[Net, ...] = ()  # the questionnaire's, then any a pollster adds on the results page (``with_nets``)
    # Who is asked, in words, for a question with ``show_if``: the file's ``base``, else the
    # condition said in words (``Questionnaire`` fills it in).
    base: dict[str, str] | None = None
    page: str = ""  # the id of the page that asks it (``Questionnaire`` fills it in)

    @property
    def option_codes(self) -> tuple[str, ...]:
        return tuple(option.code for option in self.options)

    @property
    def multiple(self) -> bool:
        return self.type == "multiple"

    @property
    def numeric(self) -> bool:
        return self.type in NUMBER_TYPES

    @property
    def closed(self) -> bool:
        """Answered by choosing among options: these get toplines and charts."""
        return bool(self.options) and not self.numeric

    @property
    def scale(self) -> tuple[float, float] | None:
        """A rating question's lowest and highest points."""
        return (float(self.minimum), float(self.maximum)) if self.type == "rating" else None

    @property
    def columns(self) -> tuple[str, ...]:
        """Its columns in the analysis frame: one per option for multiple choice, else its code."""
        if self.multiple:
            return tuple(f"{self.code}{OPTION_SEPARATOR}{option.code}" for option in self.options)
        return (self.code,)

    def label(self, language: str = "en") -> str:
        return _in_language(self.text, language, self.code)

    def option_label(self, code: str, language: str = "en") -> str:
        """The label of an option or net; the code itself for anything else."""
        for option in self.options + self.nets:
            if option.code == code:
                return _in_language(option.label, language, code)
        return code

    def with_nets(self, added: Iterable[Net]) -> "Question":
        """This question with nets a pollster added on the results page; a net with the answers
        of one the question already has is that net, kept once."""
        known = {frozenset(net.answers) for net in self.nets}
        return replace(self, nets=self.nets + tuple(net for net in added if frozenset(net.answers) not in known))

    def net(self, code: str) -> Net | None:
        return next((net for net in self.nets if net.code == code), None)

    def base_text(self, language: str = "en") -> str:
        """Who was asked, for a table's base line."""
        if self.base is None:
            return "All respondents" if language == "en" else "Todas las personas encuestadas"
        return _in_language(self.base, language, "")

    def option(self, code: str) -> Option:
        for option in self.options:
            if option.code == code:
                return option
        raise KeyError(f'question "{self.code}" has no option "{code}"')

    def is_shown(self, answers: Mapping[str, Any]) -> bool:
        """Whether this question is asked, given the answers to earlier pages."""
        return self.show_if is None or self.show_if.holds(answers)

    def option_order(self, rng: random.Random) -> list[str]:
        """Option codes in the order to show: non-anchored ones shuffled when ``randomize``.

        Anchored options ("Not sure", "Other") keep their place in the list.
        """
        codes = list(self.option_codes)
        if not self.randomize:
            return codes
        movable = [index for index, option in enumerate(self.options) if not option.anchored]
        shuffled = [codes[index] for index in movable]
        rng.shuffle(shuffled)
        for index, code in zip(movable, shuffled):
            codes[index] = code
        return codes

    def ends_survey(self, value: Any) -> bool:
        """Whether this answer screens the respondent out."""
        return self.screener is not None and value in self.screener.end_if

    def passes_attention_check(self, value: Any) -> bool:
        return self.attention_check is None or value == self.attention_check

    def validate_answer(self, value: Any) -> Any:
        """Return the answer in its stored form, or raise ValueError saying what is wrong.

        Accepts what a form posts (strings, or a list of strings for multiple choice).
        An empty answer is None for an optional question and ``AnswerRequired`` otherwise.
        """
        if value is None or (isinstance(value, str) and not value.strip()) or value in ([], ()):
            if self.required:
                raise AnswerRequired(f'question "{self.code}" needs an answer')
            return None
        return _ANSWER_CHECKS[self.type](self, value)


def _in_language(texts: Mapping[str, str], language: str, default: str) -> str:
    """The text in ``language``, else in the first language it has, else ``default``."""
    return texts.get(language) or next(iter(texts.values()), default)


_SOME_RESPONDENTS = {"en": "Asked of some respondents only (see the questionnaire's conditions)",
                     "es": "Preguntada solo a una parte de las personas (vea las condiciones del cuestionario)"}


def _asked_of(question: Question, by_code: Mapping[str, Question]) -> dict[str, str] | None:
    """The file's ``base`` wording, else the ``show_if`` condition said in words."""
    if question.show_if is None or question.base is not None:
        return question.base
    if not isinstance(question.show_if, AnswerCondition):  # all/any: too long for a base line
        return dict(_SOME_RESPONDENTS)
    other = by_code.get(question.show_if.question)
    labels = {o.code: o.label.get("en", o.code) for o in other.options} if other else {}
    return question.show_if.in_words(labels)


def _check_single(question: Question, value: Any) -> str:
    if not isinstance(value, str) or value not in question.option_codes:
        raise ValueError(f'{value!r} is not an option of question "{question.code}"')
    return value


def _check_multiple(question: Question, value: Any) -> list[str]:
    chosen = [value] if isinstance(value, str) else value
    if not isinstance(chosen, (list, tuple)):
        raise ValueError(f'question "{question.code}" takes a list of option codes, not {value!r}')
    for code in chosen:
        _check_single(question, code)
    if len(set(chosen)) != len(chosen):
        raise ValueError(f'question "{question.code}": an option was chosen twice')
    return [code for code in question.option_codes if code in chosen]


def _check_number(question: Question, value: Any) -> int | float:
    number = _as_number(value, integer=question.integer or question.type == "rating")
    if number is None:
        kind = "a whole number" if question.integer or question.type == "rating" else "a number"
        raise ValueError(f'question "{question.code}" takes {kind}, not {value!r}')
    if not question.minimum <= number <= question.maximum:
        raise ValueError(
            f'question "{question.code}" takes a number from {question.minimum} to {question.maximum}, not {number}'
        )
    return number


def _as_number(value: Any, *, integer: bool) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if integer:
            return int(value) if value.is_integer() else None
    if isinstance(value, int) or (isinstance(value, float) and not integer):
        return value
    return None


def _check_text(question: Question, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f'question "{question.code}" takes text, not {value!r}')
    text = value.strip()
    if _CONTROL_CHARACTERS.search(text):
        raise ValueError(f'question "{question.code}": the text contains control characters')
    if len(text) > question.max_length:
        raise ValueError(f'question "{question.code}" takes at most {question.max_length} characters')
    return text


_ANSWER_CHECKS: dict[str, Callable[[Question, Any], Any]] = {
    "single": _check_single,
    "multiple": _check_multiple,
    "rating": _check_number,
    "number": _check_number,
    "text": _check_text,
}


@dataclass(frozen=True)
class Page:
    id: str
    title: dict[str, str]
    questions: tuple[Question, ...]

    def is_shown(self, answers: Mapping[str, Any]) -> bool:
        """A page is shown when at least one of its questions is."""
        return any(question.is_shown(answers) for question in self.questions)


@dataclass(frozen=True)
class Questionnaire:
    slug: str
    title: dict[str, str]
    languages: tuple[str, ...]
    consent: dict[str, str]
    pages: tuple[Page, ...]
    document: dict[str, Any] = field(compare=False, repr=False)
    thank_you: dict[str, str] | None = None
    methodology: dict[str, str] = field(default_factory=dict)  # initial disclosure items of the survey
    universe: str | None = None  # the population the survey samples, compared with the targets'

    def __post_init__(self) -> None:
        # Each question learns its page and who is asked in words, so it can be reported on its own.
        by_code = {question.code: question for page in self.pages for question in page.questions}
        pages = tuple(
            replace(page, questions=tuple(replace(question, page=page.id, base=_asked_of(question, by_code))
                                          for question in page.questions))
            for page in self.pages
        )
        object.__setattr__(self, "pages", pages)

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(question for page in self.pages for question in page.questions)

    def question(self, code: str) -> Question:
        for question in self.questions:
            if question.code == code:
                return question
        raise KeyError(f'questionnaire "{self.slug}" has no question "{code}"')

    def page_index(self, page_id: str) -> int:
        for index, page in enumerate(self.pages):
            if page.id == page_id:
                return index
        raise KeyError(f'questionnaire "{self.slug}" has no page "{page_id}"')

    def page_of(self, code: str) -> Page:
        for page in self.pages:
            if any(question.code == code for question in page.questions):
                return page
        raise KeyError(f'questionnaire "{self.slug}" has no question "{code}"')

    def next_page_id(self, page_id: str | None, answers: Mapping[str, Any]) -> str | None:
        """The first page after ``page_id`` (or the first page, for None) with a question to ask."""
        start = 0 if page_id is None else self.page_index(page_id) + 1
        for page in self.pages[start:]:
            if page.is_shown(answers):
                return page.id
        return None

    @property
    def source_hash(self) -> str:
        return document_hash(self.document)


def document_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the document's canonical JSON: comments and layout of the file do not count."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

