"""Validate a questionnaire document: every mistake at once, each with its place.

``parse`` turns the document into the objects of ``model`` and reports each problem
prefixed by its place (``pages[1].questions[0].options[2]: duplicate code "yes"``), so the
author can fix a file in one pass. The marshmallow schemas below check each page, question
and option by itself; what relates one question to another (``show_if`` on an earlier page,
codes used once) is checked afterwards on the whole document, by :func:`_across`.
"""
from __future__ import annotations

import contextvars
import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from marshmallow import post_load, validates_schema

from survey.documents import (
    DocumentSchema,
    Field,
    Items,
    Nested,
    ValidationError,
    add_problem,
    describe,
    flatten,
    quoted,
)
from survey.models import SampleType
from survey.questionnaires.model import (
    CHOICE_TYPES,
    DEFAULT_TEXT_LENGTH,
    IDENTIFIER,
    LANGUAGE_CODE,
    LANGUAGE_NAMES,
    MAX_CODE_LENGTH,
    MAX_RATING_POINTS,
    OPTION_CODE,
    QUESTION_TYPES,
    REQUIRED_LANGUAGES,
    SLUG,
    AnswerCondition,
    CombinedCondition,
    Condition,
    Net,
    Option,
    Page,
    Question,
    Questionnaire,
    QuestionnaireError,
    ScaleLabels,
    Screener,
)

UNIVERSE_MAX_LENGTH = 200
METHODOLOGY_TEXT_KEYS = {"sponsor": 300, "conducted_by": 300, "sample_source": 2000, "mode": 300, "interview_languages": 200}
_COMMON_QUESTION_KEYS = {"code", "type", "text", "help", "required", "show_if", "base"}
_KEYS_BY_TYPE = {
    "single": {"options", "randomize", "screener", "attention_check", "weighting_variable", "nets"},
    "multiple": {"options", "randomize"},
    "rating": {"minimum", "maximum", "scale_labels"},
    "number": {"minimum", "maximum", "integer"},
    "text": {"max_length"},
}
_ONLY_FOR = {
    "options": "single and multiple choice questions",
    "randomize": "single and multiple choice questions",
    "screener": "single choice questions",
    "attention_check": "single choice questions",
    "weighting_variable": "single choice questions (a weighting variable has one category per respondent)",
    "nets": "single choice questions (a net adds up answers of which each respondent gives one)",
    "minimum": "number and rating questions",
    "maximum": "number and rating questions",
    "scale_labels": "rating questions",
    "integer": "number questions",
    "max_length": "text questions",
}
QUESTION_CODE_RULE = 'a simple identifier (lower-case letters, digits and "_", starting with a letter)'
OPTION_CODE_RULE = 'a simple code (lower-case letters, digits, "_", "-" and "+")'

#: The languages of the questionnaire being parsed: every text must be given in each.
_LANGUAGES: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("languages", default=REQUIRED_LANGUAGES)


# --------------------------------------------------------------------------- values


class _Texts(Field):
    """A text in every language of the questionnaire: ``{en: ..., es: ...}``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, str]:
        languages = _LANGUAGES.get()
        if isinstance(value, str):
            raise ValidationError(f"must give the text in each language ({', '.join(languages)}), not one string")
        if not isinstance(value, Mapping):
            raise ValidationError(f"must be a mapping of language to text, not {describe(value)}")
        found = [f"unknown language {quoted(language)} (the questionnaire's languages are {', '.join(languages)})"
                 for language in value if language not in languages]
        for language in languages:
            if language not in value:
                found.append(f"missing {_language_name(language)} text")
            elif not isinstance(value[language], str) or not value[language].strip():
                found.append(f"the {_language_name(language)} text must be non-empty text")
        if found:
            raise ValidationError(found)
        return {language: value[language].strip() for language in languages}


class _Code(Field):
    """An identifier the author types: text matching ``pattern``, at most ``MAX_CODE_LENGTH`` long."""

    def __init__(self, pattern: re.Pattern, rule: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.pattern, self.rule = pattern, rule

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            hint = f'; write it in quotes, "{value}"' if isinstance(value, (int, float)) else ""
            raise ValidationError(f"must be text, not {describe(value)}{hint}")
        if not self.pattern.match(value) or len(value) > MAX_CODE_LENGTH:
            raise ValidationError(f"{quoted(value)} is not {self.rule}")
        return value


def _question_code(**kwargs: Any) -> _Code:
    return _Code(IDENTIFIER, QUESTION_CODE_RULE, **kwargs)


def _option_code(**kwargs: Any) -> _Code:
    return _Code(OPTION_CODE, OPTION_CODE_RULE, **kwargs)


class _Flag(Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"must be true or false, not {describe(value)}")
        return value


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise ValidationError(f"must be a number, not {describe(value)}")
    return value


class _Number(Field):
    """A bound; whether it must be whole depends on the question (see ``_QuestionSchema._bounds``)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | float:
        return _number(value)


class _MaxLength(Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10000:
            raise ValidationError(f"must be a whole number from 1 to 10000, not {describe(value)}")
        return value


class _QuestionType(Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if value not in QUESTION_TYPES:
            raise ValidationError(f"{quoted(value)} is not a question type (one of {', '.join(QUESTION_TYPES)})")
        return value


class _OptionCodes(Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        if not isinstance(value, list) or not value:
            raise ValidationError(f"must be a list of option codes, not {describe(value)}")
        return value


class _Languages(Field):
    """``[en, es]``: two-letter codes, each once, English and Spanish among them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise ValidationError(f"must be a list of language codes such as [en, es], not {describe(value)}")
        problems: dict = {}
        for index, language in enumerate(value):
            if not isinstance(language, str) or not LANGUAGE_CODE.match(language):
                add_problem(problems, f"{quoted(language)} is not a two-letter language code", index)
            elif language in value[:index]:
                add_problem(problems, f"duplicate language {quoted(language)}", index)
        for language in REQUIRED_LANGUAGES:
            if language not in value:
                add_problem(problems, f"must include {_language_name(language)}")
        if problems:
            raise ValidationError(problems)
        return tuple(value)


def _languages_of(document: Any) -> tuple[str, ...]:
    """The languages the texts are checked in: those listed that are valid (the required ones if none is)."""
    listed = document.get("languages") if isinstance(document, Mapping) else None
    valid = [v for v in listed if isinstance(v, str) and LANGUAGE_CODE.match(v)] if isinstance(listed, list) else []
    return tuple(dict.fromkeys(valid)) or REQUIRED_LANGUAGES


class _Universe(Field):
    """One line naming the population sampled, e.g. "California registered voters"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("must name the population the survey samples, e.g. \"California registered "
                                  f"voters\", not {describe(value)}")
        text = " ".join(value.split())
        if len(text) > UNIVERSE_MAX_LENGTH:
            raise ValidationError(f"must be at most {UNIVERSE_MAX_LENGTH} characters (it has {len(text)}); name the "
                                  "population, and describe it elsewhere")
        return text


class _SampleType(Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        sample_types = [kind.value for kind in SampleType]
        if value not in sample_types:
            raise ValidationError(f"must be one of {', '.join(sample_types)}, not {describe(value)}")
        return value


class _Line(Field):
    """A methodology text of at most ``longest`` characters, on one line."""

    def __init__(self, longest: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.longest = longest

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > self.longest:
            raise ValidationError(f"must be text of 1 to {self.longest} characters, not {describe(value)}")
        return " ".join(value.split())


# --------------------------------------------------------------------------- mappings


class _OptionSchema(DocumentSchema):
    code = _option_code(required=True)
    label = _Texts(required=True)
    anchored = _Flag(load_default=False)

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> Option:
        return Option(**data)


class _Options(Items):
    """At least two options, each code once."""

    def __init__(self, **kwargs: Any):
        super().__init__(Nested(_OptionSchema), "options", fewest=0, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[Option, ...]:
        if not isinstance(value, list):
            return super()._deserialize(value, attr, data, **kwargs)  # refused: not a list
        if len(value) < 2:
            raise ValidationError(f"has {len(value)} option{'' if len(value) == 1 else 's'}; a question needs at least two")
        try:
            options, problems = super()._deserialize(value, attr, data, **kwargs), {}
        except ValidationError as error:
            options, problems = [], error.messages
        codes = [raw.get("code") if isinstance(raw, Mapping) else None for raw in value]
        for index, code in enumerate(codes):
            if isinstance(code, str) and OPTION_CODE.match(code) and code in codes[:index]:
                add_problem(problems, f'duplicate code "{code}"', index)
        if problems:
            raise ValidationError(problems)
        return tuple(options)


class _ScreenerSchema(DocumentSchema):
    end_if = _OptionCodes(required=True)
    message = _Texts(required=True)


class _ScaleLabelsSchema(DocumentSchema):
    low = _Texts(required=True)
    high = _Texts(required=True)

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> ScaleLabels:
        return ScaleLabels(**data)


class _NetSchema(DocumentSchema):
    answers = Field(required=True)
    label = _Texts()


_NET, _NET_CODE = _NetSchema(), _option_code()


class _Nets(Field):
    """``{code: [answers]}`` or ``{code: {answers: [...], label: {en: ..., es: ...}}}``; the answers
    are compared with the options by the question."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, dict]:
        if not isinstance(value, Mapping) or not value:
            raise ValidationError(f"must map each net's code to the answers it adds up, not {describe(value)}")
        nets, problems = {}, {}
        for code, raw in value.items():
            try:
                _NET_CODE.deserialize(code)
                net = _NET.load(raw) if isinstance(raw, Mapping) else {"answers": raw}
            except ValidationError as error:
                problems[str(code)] = error.messages
                continue
            if not isinstance(net["answers"], list) or len(net["answers"]) < 2:
                add_problem(problems, f"must list at least two answers to add up, not {describe(net['answers'])}", code)
            else:
                nets[code] = net
        if problems:
            raise ValidationError(problems)
        return nets


class _QuestionSchema(DocumentSchema):
    """A question of any type; which keys a type takes and how they fit together is checked by
    the validators below, each rule only once its inputs are valid."""

    code = _question_code(required=True)
    kind = _QuestionType(required=True, data_key="type")
    text = _Texts(required=True)
    help = _Texts()
    required = _Flag()
    show_if = Field()  # read by _across, once every question is known
    base = _Texts()
    options = _Options()
    randomize = _Flag()
    screener = Nested(_ScreenerSchema)
    attention_check = Field()
    weighting_variable = _question_code()
    nets = _Nets()
    minimum = _Number()
    maximum = _Number()
    integer = _Flag()
    scale_labels = Nested(_ScaleLabelsSchema)
    max_length = _MaxLength()

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _fits_its_type(self, data: dict, original: Mapping, **kwargs: Any) -> None:
        problems: dict = {}
        if "base" in original and "show_if" not in original:
            add_problem(problems, "describes who is asked, so it needs a show_if (everyone else is asked by default)", "base")
        kind = data.get("kind")
        if kind is not None:
            for key in original:
                if key in _ONLY_FOR and key not in _KEYS_BY_TYPE[kind]:
                    add_problem(problems, f"only for {_ONLY_FOR[key]}, not a {kind} question", key)
            if kind in CHOICE_TYPES and "options" not in original:
                add_problem(problems, 'missing "options"')
            if kind == "single" and "options" in data:
                _check_choices(problems, data, original)
            if kind in ("number", "rating"):
                _check_bounds(problems, data, original, integer=kind == "rating" or original.get("integer", True) is True)
            if kind == "rating" and "scale_labels" not in original:
                add_problem(problems, 'missing "scale_labels" (what the lowest and highest points mean)')
        if problems:
            raise ValidationError(problems)

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> Question:
        kind = data.pop("kind")
        data.pop("show_if", None)  # set by parse once every question is known
        integer = kind == "rating" or data.get("integer", True)
        for bound in ("minimum", "maximum"):
            if bound in data and integer:
                data[bound] = int(data[bound])
        if "screener" in data:
            data["screener"] = Screener(end_if=tuple(data["screener"]["end_if"]), message=data["screener"]["message"])
        if "nets" in data:
            data["nets"] = tuple(Net.from_document(code, net, data["options"]) for code, net in data["nets"].items())
        if kind == "text":
            data.setdefault("max_length", DEFAULT_TEXT_LENGTH)
        return Question(type=kind, **data)


def _check_choices(problems: dict, data: dict, original: Mapping) -> None:
    """A single choice question's screener, attention check and nets name its options."""
    codes = {option.code for option in data["options"]}
    end_if = data.get("screener", {}).get("end_if")  # valid even when the message is not
    if end_if is not None:
        for index, code in enumerate(end_if):
            if not isinstance(code, str) or code not in codes:
                add_problem(problems, f"{quoted(code)} is not one of the options", "screener", "end_if", index)
        if codes <= {code for code in end_if if isinstance(code, str)}:
            add_problem(problems, "lists every option, so every respondent would be screened out", "screener", "end_if")
    if "screener" in original and original.get("required", True) is False:
        add_problem(problems, "a screener question must be required (a skipped screener would let anyone through)", "screener")
    if "attention_check" in data:
        expected = data["attention_check"]
        if not isinstance(expected, str) or expected not in codes:
            add_problem(problems, f"the expected answer {quoted(expected)} is not one of the options", "attention_check")
    for code, net in data.get("nets", {}).items():
        unknown = [answer for answer in net["answers"] if not isinstance(answer, str) or answer not in codes]
        if code in codes:
            add_problem(problems, f'"{code}" is already an option code; a net needs a code of its own', "nets", code)
        elif unknown:
            add_problem(problems, f"{', '.join(quoted(a) for a in unknown)} {'is' if len(unknown) == 1 else 'are'} "
                        f"not among the options ({', '.join(sorted(codes))})", "nets", code)


def _check_bounds(problems: dict, data: dict, original: Mapping, *, integer: bool) -> None:
    """Both bounds given, whole where the answers are, in order; a rating scale of 2 to 21 points."""
    for key in ("minimum", "maximum"):
        if key not in original:
            add_problem(problems, f'missing "{key}"')
    if "minimum" not in data or "maximum" not in data:
        return
    low, high = data["minimum"], data["maximum"]
    for key, value in (("minimum", low), ("maximum", high)):
        if integer and not float(value).is_integer():
            add_problem(problems, f"must be a whole number, not {value}", key)
    if integer and not (float(low).is_integer() and float(high).is_integer()):
        return
    if low > high:
        add_problem(problems, f"minimum {low} is greater than maximum {high}")
    elif data["kind"] == "rating" and high - low + 1 > MAX_RATING_POINTS:
        add_problem(problems, f"a rating scale has at most {MAX_RATING_POINTS} points; {low} to {high} has {high - low + 1}")
    elif data["kind"] == "rating" and low == high:
        add_problem(problems, f"a rating scale needs at least two points; minimum and maximum are both {low}")


class _PageSchema(DocumentSchema):
    id = _question_code(required=True)
    title = _Texts(required=True)
    questions = Items(Nested(_QuestionSchema), "questions", required=True)

    @post_load
    def _build(self, data: dict, **kwargs: Any) -> Page:
        return Page(id=data["id"], title=data["title"], questions=tuple(data["questions"]))


class _MethodologySchema(DocumentSchema):
    """Initial disclosure items (``survey.reporting.methodology``): the sample type and texts."""

    sample_type = _SampleType()
    sponsor = _Line(METHODOLOGY_TEXT_KEYS["sponsor"])
    conducted_by = _Line(METHODOLOGY_TEXT_KEYS["conducted_by"])
    sample_source = _Line(METHODOLOGY_TEXT_KEYS["sample_source"])
    mode = _Line(METHODOLOGY_TEXT_KEYS["mode"])
    interview_languages = _Line(METHODOLOGY_TEXT_KEYS["interview_languages"])


class _QuestionnaireSchema(DocumentSchema):
    slug = _Code(SLUG, 'a slug (lower-case letters, digits and "-")', required=True)
    languages = _Languages(required=True)
    title = _Texts(required=True)
    consent = _Texts(required=True)
    thank_you = _Texts()
    methodology = Nested(_MethodologySchema, load_default=dict)
    universe = _Universe()
    pages = Items(Nested(_PageSchema), "pages", required=True)

    @post_load(pass_original=True)
    def _build(self, data: dict, original: Mapping, **kwargs: Any) -> Questionnaire:
        return Questionnaire(**{**data, "pages": tuple(data["pages"]), "document": copy.deepcopy(dict(original))})


def parse(document: Any) -> Questionnaire:
    """Validate a questionnaire document (the YAML as plain data) and build the objects.

    Raises
    ------
    QuestionnaireError
        With every problem found, each prefixed by its place in the document.
    """
    token = _LANGUAGES.set(_languages_of(document))
    try:
        questionnaire, messages = _QuestionnaireSchema().load(document), {}
    except ValidationError as error:
        questionnaire, messages = None, error.messages
    finally:
        _LANGUAGES.reset(token)
    found = flatten(messages)
    conditions = _across(document, messages, found)
    if found:
        raise QuestionnaireError([f"{place or 'questionnaire'}: {message}" for place, message in found])
    return replace(questionnaire, pages=tuple(
        replace(page, questions=tuple(replace(q, show_if=conditions.get(q.code)) for q in page.questions))
        for page in questionnaire.pages
    ))


# --------------------------------------------------------------------------- across questions


@dataclass
class _Draft:
    """A question as the document wrote it, for the rules that relate it to the others."""

    place: str
    page_index: int
    raw: Mapping
    broken: bool  # has problems of its own; conditions on it are not checked further

    @property
    def kind(self) -> str | None:
        return None if self.broken else self.raw["type"]


def _drafts(document: Any, messages: Mapping, found: list[tuple[str, str]]) -> dict[str, _Draft]:
    """Every question with a valid code, first use of each code; duplicate page ids and codes are problems."""
    pages = document.get("pages") if isinstance(document, Mapping) else None
    page_problems = messages.get("pages", {}) if isinstance(messages.get("pages"), Mapping) else {}
    drafts: dict[str, _Draft] = {}
    page_ids: list[str] = []
    for page_index, page in enumerate(pages if isinstance(pages, list) else []):
        if not isinstance(page, Mapping):
            continue
        page_id = page.get("id")
        if isinstance(page_id, str) and IDENTIFIER.match(page_id):
            if page_id in page_ids:
                found.append((f"pages[{page_index}].id", f'duplicate page id "{page_id}"'))
            page_ids.append(page_id)
        questions = page.get("questions")
        question_problems = page_problems.get(page_index, {}).get("questions", {})
        for index, raw in enumerate(questions if isinstance(questions, list) else []):
            code = raw.get("code") if isinstance(raw, Mapping) else None
            if not isinstance(code, str) or not IDENTIFIER.match(code) or len(code) > MAX_CODE_LENGTH:
                continue
            place = f"pages[{page_index}].questions[{index}]"
            if code in drafts:
                found.append((f"{place}.code", f'duplicate question code "{code}" (first used at {drafts[code].place})'))
                continue
            broken = not isinstance(question_problems, Mapping) or index in question_problems
            drafts[code] = _Draft(place, page_index, raw, broken)
    return drafts


def _across(document: Any, messages: Mapping, found: list[tuple[str, str]]) -> dict[str, Condition]:
    """The rules between questions, their problems added to ``found``; returns each ``show_if`` built."""
    drafts = _drafts(document, messages, found)
    conditions = {}
    for code, draft in drafts.items():
        if "show_if" in draft.raw:
            condition = _condition(draft.raw["show_if"], f"{draft.place}.show_if", draft, drafts, found)
            if condition is not None:
                conditions[code] = condition
    used: dict[str, str] = {}
    for draft in drafts.values():
        variable = draft.raw.get("weighting_variable")
        if draft.raw.get("type") != "single" or not isinstance(variable, str) or not IDENTIFIER.match(variable):
            continue
        if variable in used:
            found.append((f"{draft.place}.weighting_variable",
                          f'duplicate weighting variable "{variable}" (also at {used[variable]})'))
        else:
            used[variable] = draft.place
    return conditions


class _ComparisonSchema(DocumentSchema):
    question = Field(required=True)
    in_ = Field(data_key="in")
    not_in = Field()
    at_least = Field()
    at_most = Field()


_COMPARISON = _ComparisonSchema()
_COMPARISONS = ("in", "not_in", "at_least", "at_most")


def _condition(value: Any, place: str, owner: _Draft, drafts: dict[str, _Draft],
               found: list[tuple[str, str]]) -> Condition | None:
    """``{question: q, in: [codes]}``, ``not_in``, ``at_least``/``at_most`` n, or ``all``/``any`` lists."""
    if isinstance(value, Mapping) and ("all" in value or "any" in value):
        mode = "all" if "all" in value else "any"
        if len(value) != 1:
            found.append((place, f'"{mode}" must be the only key of its condition'))
            return None
        parts = value[mode]
        if not isinstance(parts, list) or not parts:
            found.append((f"{place}.{mode}", f"must be a non-empty list of conditions, not {describe(parts)}"))
            return None
        conditions = [_condition(part, f"{place}.{mode}[{index}]", owner, drafts, found) for index, part in enumerate(parts)]
        return None if None in conditions else CombinedCondition(mode=mode, conditions=tuple(conditions))
    try:
        _COMPARISON.load(value)
    except ValidationError as error:
        found.extend(flatten(error.messages, place))
        return None
    operators = [key for key in _COMPARISONS if key in value]
    if len(operators) != 1:
        found.append((place, "needs exactly one of in, not_in, at_least, at_most"))
        return None
    operator, code = operators[0], value["question"]
    target = drafts.get(code) if isinstance(code, str) else None
    problem = _order_problem(code, target, owner)
    if problem:
        found.append((place, problem))
        return None
    if target.broken:
        return None
    argument, place = value[operator], f"{place}.{operator}"
    if operator in ("in", "not_in"):
        if target.kind not in CHOICE_TYPES:
            found.append((place, f'question "{code}" is a {target.kind} question; use at_least or at_most'))
            return None
        if not isinstance(argument, list) or not argument:
            found.append((place, f"must be a non-empty list of option codes, not {describe(argument)}"))
            return None
        known = {option["code"] for option in target.raw["options"]}
        unknown = [(place, f'{quoted(item)} is not an option of question "{code}"') for item in argument
                   if not isinstance(item, str) or item not in known]
        found.extend(unknown)
        return None if unknown else AnswerCondition(code, operator, tuple(argument))
    if target.kind not in ("number", "rating"):
        found.append((place, f'question "{code}" is a {target.kind} question; use in or not_in'))
        return None
    try:
        return AnswerCondition(code, operator, (_number(argument),))
    except ValidationError as error:
        found.extend(flatten(error.messages, place))
        return None


def _order_problem(code: Any, target: _Draft | None, owner: _Draft) -> str | None:
    """Why a condition cannot use the answer to ``code``: only answers from earlier pages are known."""
    if target is None:
        return f"unknown question {quoted(code)}"
    if target is owner:
        return f'question "{code}" cannot depend on its own answer'
    if target.page_index == owner.page_index:
        return f'question "{code}" is on the same page; a condition can only use answers from earlier pages'
    if target.page_index > owner.page_index:
        return f'question "{code}" comes later; a condition can only use answers from earlier pages'
    return None


def _language_name(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f'{name} ("{code}")' if name else f'"{code}"'
