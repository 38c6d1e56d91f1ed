"""Questionnaires as files: parse and validate a YAML document, keep it in the database.

A questionnaire file is the source of truth. ``parse`` turns the document into small
immutable objects and reports every mistake at once, each prefixed by its place
(``pages[1].questions[0].options[2]: duplicate code "yes"``), so the author can fix a
file in one pass. ``load_into_database`` indexes it as ``Survey``/``Question``/``Option``
rows and refuses changes that would silently recode answers already collected.
The format is documented in ``docs/questionnaire.md``.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import sqlalchemy as sa
import yaml

from survey.models import Option as OptionRow
from survey.models import Question as QuestionRow
from survey.models import Response, Survey

QuestionType = Literal["single", "multiple", "rating", "number", "text"]
QUESTION_TYPES: tuple[str, ...] = ("single", "multiple", "rating", "number", "text")
CHOICE_TYPES = ("single", "multiple")
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


# --------------------------------------------------------------------------- the objects


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
class ScaleLabels:
    low: dict[str, str]
    high: dict[str, str]


@dataclass(frozen=True)
class Question:
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

    @property
    def option_codes(self) -> tuple[str, ...]:
        return tuple(option.code for option in self.options)

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
    universe: str | None = None  # the population the survey samples, compared with the targets'

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

    @classmethod
    def from_survey(cls, survey: Survey) -> Questionnaire:
        """Rebuild the questionnaire a survey was loaded from (cached by its source hash)."""
        cached = _FROM_SURVEY_CACHE.get(survey.source_hash)
        if cached is None:
            cached = parse(survey.definition)
            if len(_FROM_SURVEY_CACHE) >= 64:
                _FROM_SURVEY_CACHE.clear()
            _FROM_SURVEY_CACHE[survey.source_hash] = cached
        return cached


_FROM_SURVEY_CACHE: dict[str, Questionnaire] = {}


def document_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of the document's canonical JSON: comments and layout of the file do not count."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- validation

_TOP_KEYS = {"slug", "title", "languages", "consent", "thank_you", "universe", "pages"}
UNIVERSE_MAX_LENGTH = 200
_PAGE_KEYS = {"id", "title", "questions"}
_OPTION_KEYS = {"code", "label", "anchored"}
_COMMON_QUESTION_KEYS = {"code", "type", "text", "help", "required", "show_if"}
_KEYS_BY_TYPE = {
    "single": {"options", "randomize", "screener", "attention_check", "weighting_variable"},
    "multiple": {"options", "randomize"},
    "rating": {"minimum", "maximum", "scale_labels"},
    "number": {"minimum", "maximum", "integer"},
    "text": {"max_length"},
}
_ALL_QUESTION_KEYS = _COMMON_QUESTION_KEYS.union(*_KEYS_BY_TYPE.values())
_ONLY_FOR = {
    "options": "single and multiple choice questions",
    "randomize": "single and multiple choice questions",
    "screener": "single choice questions",
    "attention_check": "single choice questions",
    "weighting_variable": "single choice questions (a weighting variable has one category per respondent)",
    "minimum": "number and rating questions",
    "maximum": "number and rating questions",
    "scale_labels": "rating questions",
    "integer": "number questions",
    "max_length": "text questions",
}


class _Checker:
    """Collects problems, each with its place in the document."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.languages: tuple[str, ...] = REQUIRED_LANGUAGES

    def add(self, place: str, message: str) -> None:
        self.problems.append(f"{place}: {message}")

    def mapping(self, value: Any, place: str, allowed: set[str], required: Iterable[str] = ()) -> dict | None:
        if not isinstance(value, Mapping):
            self.add(place, f"must be a mapping of keys to values, not {_describe(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.add(place, f"unknown key {_quote(key)}{_suggestion(key, allowed)}")
        for key in required:
            if key not in value:
                self.add(place, f'missing "{key}"')
        return dict(value)

    def texts(self, value: Any, place: str) -> dict[str, str] | None:
        """A text in every language of the questionnaire: ``{en: ..., es: ...}``."""
        if isinstance(value, str):
            self.add(place, f"must give the text in each language ({', '.join(self.languages)}), not one string")
            return None
        if not isinstance(value, Mapping):
            self.add(place, f"must be a mapping of language to text, not {_describe(value)}")
            return None
        good = True
        for language in value:
            if language not in self.languages:
                self.add(place, f"unknown language {_quote(language)} (the questionnaire's languages are "
                         f"{', '.join(self.languages)})")
                good = False
        for language in self.languages:
            text = value.get(language)
            if language not in value:
                self.add(place, f"missing {_language_name(language)} text")
                good = False
            elif not isinstance(text, str) or not text.strip():
                self.add(place, f"the {_language_name(language)} text must be non-empty text")
                good = False
        return {language: value[language].strip() for language in self.languages} if good else None

    def code(self, value: Any, place: str, pattern: re.Pattern, what: str) -> str | None:
        if not isinstance(value, str):
            hint = f'; write it in quotes, "{value}"' if isinstance(value, (int, float)) else ""
            self.add(place, f"must be text, not {_describe(value)}{hint}")
            return None
        if not pattern.match(value) or len(value) > MAX_CODE_LENGTH:
            self.add(place, f"{_quote(value)} is not {what}")
            return None
        return value

    def boolean(self, value: Any, place: str) -> bool | None:
        if not isinstance(value, bool):
            self.add(place, f"must be true or false, not {_describe(value)}")
            return None
        return value

    def number(self, value: Any, place: str, *, integer: bool) -> int | float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            self.add(place, f"must be a number, not {_describe(value)}")
            return None
        if integer and not float(value).is_integer():
            self.add(place, f"must be a whole number, not {value}")
            return None
        return int(value) if integer else value


QUESTION_CODE_RULE = 'a simple identifier (lower-case letters, digits and "_", starting with a letter)'
OPTION_CODE_RULE = 'a simple code (lower-case letters, digits, "_", "-" and "+")'


def parse(document: Any) -> Questionnaire:
    """Validate a questionnaire document (the YAML as plain data) and build the objects.

    Raises
    ------
    QuestionnaireError
        With every problem found, each prefixed by its place in the document.
    """
    check = _Checker()
    top = check.mapping(document, "questionnaire", _TOP_KEYS, ("slug", "title", "languages", "consent", "pages"))
    if top is None:
        raise QuestionnaireError(check.problems)
    slug = None
    if "slug" in top:
        slug = check.code(top["slug"], "slug", SLUG, 'a slug (lower-case letters, digits and "-")')
    if "languages" in top:
        check.languages = _languages(check, top["languages"])
    title = check.texts(top["title"], "title") if "title" in top else None
    consent = check.texts(top["consent"], "consent") if "consent" in top else None
    thank_you = check.texts(top["thank_you"], "thank_you") if "thank_you" in top else None
    universe = _universe(check, top["universe"]) if "universe" in top else None
    pages = _pages(check, top.get("pages"), "pages") if "pages" in top else ()
    if check.problems:
        raise QuestionnaireError(check.problems)
    return Questionnaire(
        slug=slug,
        title=title,
        languages=check.languages,
        consent=consent,
        pages=pages,
        document=copy.deepcopy(dict(document)),
        thank_you=thank_you,
        universe=universe,
    )


def _universe(check: _Checker, value: Any) -> str | None:
    """One line naming the population sampled, e.g. "California registered voters"."""
    if not isinstance(value, str) or not value.strip():
        check.add("universe", f"must name the population the survey samples, e.g. \"California registered voters\", not {_describe(value)}")
        return None
    text = " ".join(value.split())
    if len(text) > UNIVERSE_MAX_LENGTH:
        check.add("universe", f"must be at most {UNIVERSE_MAX_LENGTH} characters (it has {len(text)}); name the population, and describe it elsewhere")
        return None
    return text


def _languages(check: _Checker, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        check.add("languages", f"must be a list of language codes such as [en, es], not {_describe(value)}")
        return REQUIRED_LANGUAGES
    languages: list[str] = []
    for index, language in enumerate(value):
        place = f"languages[{index}]"
        if not isinstance(language, str) or not LANGUAGE_CODE.match(language):
            check.add(place, f"{_quote(language)} is not a two-letter language code")
        elif language in languages:
            check.add(place, f"duplicate language {_quote(language)}")
        else:
            languages.append(language)
    for required in REQUIRED_LANGUAGES:
        if required not in languages:
            check.add("languages", f"must include {_language_name(required)}")
    return tuple(languages) or REQUIRED_LANGUAGES


@dataclass
class _Draft:
    """A question being validated; conditions are checked once every question is known."""

    place: str
    page_index: int
    fields: dict[str, Any]
    show_if: Any = None
    has_show_if: bool = False
    broken: bool = False  # has problems of its own; conditions on it are not checked further


def _pages(check: _Checker, value: Any, place: str) -> tuple[Page, ...]:
    if not isinstance(value, list) or not value:
        check.add(place, f"must be a non-empty list of pages, not {_describe(value)}")
        return ()
    page_ids: set[str] = set()
    drafts: dict[str, _Draft] = {}
    page_parts: list[tuple[str, dict, list[str]]] = []
    for page_index, raw_page in enumerate(value):
        page_place = f"{place}[{page_index}]"
        page = check.mapping(raw_page, page_place, _PAGE_KEYS, ("id", "title", "questions"))
        if page is None:
            continue
        page_id = check.code(page.get("id"), f"{page_place}.id", IDENTIFIER, QUESTION_CODE_RULE) if "id" in page else None
        if page_id is not None:
            if page_id in page_ids:
                check.add(f"{page_place}.id", f'duplicate page id "{page_id}"')
            page_ids.add(page_id)
        title = check.texts(page["title"], f"{page_place}.title") if "title" in page else None
        codes: list[str] = []
        raw_questions = page.get("questions")
        if "questions" in page and (not isinstance(raw_questions, list) or not raw_questions):
            check.add(f"{page_place}.questions", f"must be a non-empty list of questions, not {_describe(raw_questions)}")
        elif raw_questions:
            for question_index, raw_question in enumerate(raw_questions):
                question_place = f"{page_place}.questions[{question_index}]"
                draft = _question(check, raw_question, question_place, page_index)
                if draft is None:
                    continue
                code = draft.fields["code"]
                if code in drafts:
                    check.add(f"{question_place}.code", f'duplicate question code "{code}" '
                              f"(first used at {drafts[code].place})")
                    continue
                drafts[code] = draft
                codes.append(code)
        page_parts.append((page_id, title, codes))
    for draft in drafts.values():
        if draft.has_show_if:
            draft.fields["show_if"] = _condition(check, draft.show_if, f"{draft.place}.show_if", draft, drafts)
    _check_weighting_variables(check, drafts)
    if check.problems:
        return ()
    return tuple(
        Page(id=page_id, title=title, questions=tuple(Question(**drafts[code].fields) for code in codes))
        for page_id, title, codes in page_parts
    )


def _question(check: _Checker, value: Any, place: str, page_index: int) -> _Draft | None:
    raw = check.mapping(value, place, _ALL_QUESTION_KEYS, ("code", "type", "text"))
    if raw is None:
        return None
    before = len(check.problems)
    code = check.code(raw.get("code"), f"{place}.code", IDENTIFIER, QUESTION_CODE_RULE) if "code" in raw else None
    kind = raw.get("type")
    if "type" in raw and kind not in QUESTION_TYPES:
        check.add(f"{place}.type", f"{_quote(kind)} is not a question type (one of {', '.join(QUESTION_TYPES)})")
        kind = None
    fields: dict[str, Any] = {"code": code, "type": kind}
    if "text" in raw:
        fields["text"] = check.texts(raw["text"], f"{place}.text")
    if "help" in raw:
        fields["help"] = check.texts(raw["help"], f"{place}.help")
    if "required" in raw:
        fields["required"] = check.boolean(raw["required"], f"{place}.required")
    if kind is not None:
        for key in raw:
            if key in _ALL_QUESTION_KEYS and key not in _COMMON_QUESTION_KEYS and key not in _KEYS_BY_TYPE[kind]:
                check.add(f"{place}.{key}", f"only for {_ONLY_FOR[key]}, not a {kind} question")
        _TYPE_FIELDS[kind](check, raw, place, fields)
    if code is None:
        return None
    broken = len(check.problems) > before or kind is None
    return _Draft(place, page_index, fields, raw.get("show_if"), "show_if" in raw, broken)


def _choice_fields(check: _Checker, raw: dict, place: str, fields: dict) -> None:
    if "options" not in raw:
        check.add(place, 'missing "options"')
        return
    options = _options(check, raw["options"], f"{place}.options")
    fields["options"] = options
    codes = {option.code for option in options}
    if "randomize" in raw:
        fields["randomize"] = check.boolean(raw["randomize"], f"{place}.randomize")
    if fields["type"] != "single":
        return
    if "screener" in raw:
        fields["screener"] = _screener(check, raw["screener"], f"{place}.screener", codes, raw.get("required", True))
    if "attention_check" in raw:
        expected = raw["attention_check"]
        if not isinstance(expected, str) or expected not in codes:
            check.add(f"{place}.attention_check", f"the expected answer {_quote(expected)} is not one of the options")
        else:
            fields["attention_check"] = expected
    if "weighting_variable" in raw:
        fields["weighting_variable"] = check.code(
            raw["weighting_variable"], f"{place}.weighting_variable", IDENTIFIER, QUESTION_CODE_RULE
        )


def _options(check: _Checker, value: Any, place: str) -> tuple[Option, ...]:
    if not isinstance(value, list):
        check.add(place, f"must be a list of options, not {_describe(value)}")
        return ()
    if len(value) < 2:
        check.add(place, f"has {len(value)} option{'' if len(value) == 1 else 's'}; a question needs at least two")
        return ()
    options: list[Option] = []
    seen: set[str] = set()
    for index, raw_option in enumerate(value):
        option_place = f"{place}[{index}]"
        raw = check.mapping(raw_option, option_place, _OPTION_KEYS, ("code", "label"))
        if raw is None:
            continue
        code = check.code(raw.get("code"), f"{option_place}.code", OPTION_CODE, OPTION_CODE_RULE) if "code" in raw else None
        if code is not None and code in seen:
            check.add(option_place, f'duplicate code "{code}"')
            code = None
        label = check.texts(raw["label"], f"{option_place}.label") if "label" in raw else None
        anchored = check.boolean(raw["anchored"], f"{option_place}.anchored") if "anchored" in raw else False
        if code is not None:
            seen.add(code)
            options.append(Option(code=code, label=label, anchored=bool(anchored)))
    return tuple(options)


def _screener(check: _Checker, value: Any, place: str, codes: set[str], required: Any) -> Screener | None:
    raw = check.mapping(value, place, {"end_if", "message"}, ("end_if", "message"))
    if raw is None:
        return None
    end_if = raw.get("end_if")
    if "end_if" in raw:
        if not isinstance(end_if, list) or not end_if:
            check.add(f"{place}.end_if", f"must be a list of option codes, not {_describe(end_if)}")
            end_if = None
        else:
            for index, code in enumerate(end_if):
                if code not in codes:
                    check.add(f"{place}.end_if[{index}]", f"{_quote(code)} is not one of the options")
            if set(end_if) >= codes:
                check.add(f"{place}.end_if", "lists every option, so every respondent would be screened out")
    message = check.texts(raw["message"], f"{place}.message") if "message" in raw else None
    if required is False:
        check.add(place, "a screener question must be required (a skipped screener would let anyone through)")
    if end_if is None or message is None:
        return None
    return Screener(end_if=tuple(end_if), message=message)


def _rating_fields(check: _Checker, raw: dict, place: str, fields: dict) -> None:
    bounds = _bounds(check, raw, place, integer=True, fields=fields)
    if bounds is not None:
        low, high = bounds
        if high - low + 1 > MAX_RATING_POINTS:
            check.add(place, f"a rating scale has at most {MAX_RATING_POINTS} points; {low} to {high} has {high - low + 1}")
        elif low == high:
            check.add(place, f"a rating scale needs at least two points; minimum and maximum are both {low}")
    if "scale_labels" not in raw:
        check.add(place, 'missing "scale_labels" (what the lowest and highest points mean)')
        return
    labels = check.mapping(raw["scale_labels"], f"{place}.scale_labels", {"low", "high"}, ("low", "high"))
    if labels is not None and "low" in labels and "high" in labels:
        low_text = check.texts(labels["low"], f"{place}.scale_labels.low")
        high_text = check.texts(labels["high"], f"{place}.scale_labels.high")
        fields["scale_labels"] = ScaleLabels(low=low_text, high=high_text)


def _number_fields(check: _Checker, raw: dict, place: str, fields: dict) -> None:
    integer = True
    if "integer" in raw:
        integer = check.boolean(raw["integer"], f"{place}.integer")
        fields["integer"] = integer
    _bounds(check, raw, place, integer=bool(integer), fields=fields)


def _bounds(check: _Checker, raw: dict, place: str, *, integer: bool, fields: dict | None = None):
    missing = [key for key in ("minimum", "maximum") if key not in raw]
    for key in missing:
        check.add(place, f'missing "{key}"')
    if missing:
        return None
    low = check.number(raw["minimum"], f"{place}.minimum", integer=integer)
    high = check.number(raw["maximum"], f"{place}.maximum", integer=integer)
    if low is None or high is None:
        return None
    if low > high:
        check.add(place, f"minimum {low} is greater than maximum {high}")
        return None
    if fields is not None:
        fields.update(minimum=low, maximum=high)
    return low, high


def _text_fields(check: _Checker, raw: dict, place: str, fields: dict) -> None:
    fields["max_length"] = DEFAULT_TEXT_LENGTH
    if "max_length" in raw:
        length = raw["max_length"]
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= 10000:
            check.add(f"{place}.max_length", f"must be a whole number from 1 to 10000, not {_describe(length)}")
        else:
            fields["max_length"] = length


_TYPE_FIELDS: dict[str, Callable[[_Checker, dict, str, dict], None]] = {
    "single": _choice_fields,
    "multiple": _choice_fields,
    "rating": _rating_fields,
    "number": _number_fields,
    "text": _text_fields,
}

_COMPARISONS = ("in", "not_in", "at_least", "at_most")


def _condition(check: _Checker, value: Any, place: str, owner: _Draft, drafts: dict[str, _Draft]) -> Condition | None:
    """``{question: q, in: [codes]}``, ``not_in``, ``at_least``/``at_most`` n, or ``all``/``any`` lists."""
    if isinstance(value, Mapping) and ("all" in value or "any" in value):
        mode = "all" if "all" in value else "any"
        if len(value) != 1:
            check.add(place, f'"{mode}" must be the only key of its condition')
            return None
        parts = value[mode]
        if not isinstance(parts, list) or not parts:
            check.add(f"{place}.{mode}", f"must be a non-empty list of conditions, not {_describe(parts)}")
            return None
        conditions = [_condition(check, part, f"{place}.{mode}[{index}]", owner, drafts) for index, part in enumerate(parts)]
        if any(condition is None for condition in conditions):
            return None
        return CombinedCondition(mode=mode, conditions=tuple(conditions))
    before = len(check.problems)
    raw = check.mapping(value, place, {"question", *_COMPARISONS}, ("question",))
    if raw is None or len(check.problems) > before:
        return None
    operators = [key for key in _COMPARISONS if key in raw]
    if len(operators) != 1:
        check.add(place, "needs exactly one of in, not_in, at_least, at_most")
        return None
    operator = operators[0]
    code = raw.get("question")
    target = drafts.get(code) if isinstance(code, str) else None
    if target is None:
        check.add(place, f"unknown question {_quote(code)}")
        return None
    if target is owner:
        check.add(place, f'question "{code}" cannot depend on its own answer')
        return None
    if target.page_index == owner.page_index:
        check.add(place, f'question "{code}" is on the same page; a condition can only use answers from earlier pages')
        return None
    if target.page_index > owner.page_index:
        check.add(place, f'question "{code}" comes later; a condition can only use answers from earlier pages')
        return None
    if target.broken:
        return None
    target_type = target.fields["type"]
    argument = raw[operator]
    if operator in ("in", "not_in"):
        if target_type not in CHOICE_TYPES:
            check.add(f"{place}.{operator}", f'question "{code}" is a {target_type} question; use at_least or at_most')
            return None
        if not isinstance(argument, list) or not argument:
            check.add(f"{place}.{operator}", f"must be a non-empty list of option codes, not {_describe(argument)}")
            return None
        known = {option.code for option in target.fields["options"]}
        unknown = [item for item in argument if item not in known]
        for item in unknown:
            check.add(f"{place}.{operator}", f'{_quote(item)} is not an option of question "{code}"')
        return None if unknown else AnswerCondition(code, operator, tuple(argument))
    if target_type not in ("number", "rating"):
        check.add(f"{place}.{operator}", f'question "{code}" is a {target_type} question; use in or not_in')
        return None
    bound = check.number(argument, f"{place}.{operator}", integer=False)
    return None if bound is None else AnswerCondition(code, operator, (bound,))


def _check_weighting_variables(check: _Checker, drafts: dict[str, _Draft]) -> None:
    used: dict[str, str] = {}
    for draft in drafts.values():
        variable = draft.fields.get("weighting_variable")
        if variable is None:
            continue
        if variable in used:
            check.add(f"{draft.place}.weighting_variable",
                      f'duplicate weighting variable "{variable}" (also at {used[variable]})')
        else:
            used[variable] = draft.place


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    return str(value)


def _quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else _describe(value)


def _suggestion(key: Any, allowed: set[str]) -> str:
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _language_name(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f'{name} ("{code}")' if name else f'"{code}"'


# --------------------------------------------------------------------------- files


class _Loader(yaml.SafeLoader):
    """YAML without the surprises of YAML 1.1: ``no`` stays the text "no", dates stay text,
    and a key written twice is an error instead of the last one silently winning."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_quote(key)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_document(text: str, name: str = "questionnaire") -> Any:
    """Read YAML text; a syntax error becomes a problem naming the line and column."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = error.problem or error.context or "not valid YAML"
        raise QuestionnaireError([f"{name}: {where}: {problem}"]) from None
    except yaml.YAMLError as error:
        raise QuestionnaireError([f"{name}: not valid YAML: {error}"]) from None


def load_file(path: str | Path) -> Questionnaire:
    """Read and validate a questionnaire file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QuestionnaireError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise QuestionnaireError([f"{path}: cannot be read: {error}"]) from None
    return parse(read_document(text, str(path)))


def default_questionnaire_path(name: str = "california-2025") -> Path:
    return Path(__file__).resolve().parent / "questionnaires" / f"{name}.yaml"


# --------------------------------------------------------------------------- database


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
