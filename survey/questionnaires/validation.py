"""Validate a questionnaire document: every mistake at once, each with its place.

``parse`` turns the document into the objects of ``model`` and reports each problem
prefixed by its place (``pages[1].questions[0].options[2]: duplicate code "yes"``), so the
author can fix a file in one pass.
"""
from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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

_TOP_KEYS = {"slug", "title", "languages", "consent", "thank_you", "universe", "pages"}
UNIVERSE_MAX_LENGTH = 200
_PAGE_KEYS = {"id", "title", "questions"}
_OPTION_KEYS = {"code", "label", "anchored"}
_COMMON_QUESTION_KEYS = {"code", "type", "text", "help", "required", "show_if", "base"}
_KEYS_BY_TYPE = {
    "single": {"options", "randomize", "screener", "attention_check", "weighting_variable", "nets"},
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
    "nets": "single choice questions (a net adds up answers of which each respondent gives one)",
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
                self.add(place, f"unknown key {quoted(key)}{_suggestion(key, allowed)}")
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
                self.add(place, f"unknown language {quoted(language)} (the questionnaire's languages are "
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
            self.add(place, f"{quoted(value)} is not {what}")
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
            check.add(place, f"{quoted(language)} is not a two-letter language code")
        elif language in languages:
            check.add(place, f"duplicate language {quoted(language)}")
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
        check.add(f"{place}.type", f"{quoted(kind)} is not a question type (one of {', '.join(QUESTION_TYPES)})")
        kind = None
    fields: dict[str, Any] = {"code": code, "type": kind}
    if "text" in raw:
        fields["text"] = check.texts(raw["text"], f"{place}.text")
    if "help" in raw:
        fields["help"] = check.texts(raw["help"], f"{place}.help")
    if "required" in raw:
        fields["required"] = check.boolean(raw["required"], f"{place}.required")
    if "base" in raw:
        fields["base"] = check.texts(raw["base"], f"{place}.base")
        if "show_if" not in raw:
            check.add(f"{place}.base", "describes who is asked, so it needs a show_if (everyone else is asked by default)")
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
            check.add(f"{place}.attention_check", f"the expected answer {quoted(expected)} is not one of the options")
        else:
            fields["attention_check"] = expected
    if "weighting_variable" in raw:
        fields["weighting_variable"] = check.code(
            raw["weighting_variable"], f"{place}.weighting_variable", IDENTIFIER, QUESTION_CODE_RULE
        )
    if "nets" in raw:
        fields["nets"] = _nets(check, raw["nets"], f"{place}.nets", options)


def _nets(check: _Checker, value: Any, place: str, options: tuple[Option, ...]) -> tuple[Net, ...]:
    """``{code: [answers]}`` or ``{code: {answers: [...], label: {en: ..., es: ...}}}``."""
    if not isinstance(value, Mapping) or not value:
        check.add(place, f"must map each net's code to the answers it adds up, not {_describe(value)}")
        return ()
    codes = {option.code for option in options}
    nets = []
    for code, raw in value.items():
        net_place = f"{place}.{code}"
        if check.code(code, net_place, OPTION_CODE, OPTION_CODE_RULE) is None:
            continue
        if code in codes:
            check.add(net_place, f'"{code}" is already an option code; a net needs a code of its own')
            continue
        if isinstance(raw, Mapping):
            raw = check.mapping(raw, net_place, {"answers", "label"}, ("answers",))
            if raw is None or "answers" not in raw:
                continue
            if "label" in raw and check.texts(raw["label"], f"{net_place}.label") is None:
                continue
        answers = raw.get("answers") if isinstance(raw, Mapping) else raw
        if not isinstance(answers, list) or len(answers) < 2:
            check.add(net_place, f"must list at least two answers to add up, not {_describe(answers)}")
            continue
        unknown = [answer for answer in answers if answer not in codes]
        if unknown:
            check.add(net_place, f"{', '.join(quoted(a) for a in unknown)} {'is' if len(unknown) == 1 else 'are'} "
                      f"not among the options ({', '.join(sorted(codes))})")
            continue
        nets.append(Net.from_document(code, raw, options))
    return tuple(nets)


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
                    check.add(f"{place}.end_if[{index}]", f"{quoted(code)} is not one of the options")
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
        check.add(place, f"unknown question {quoted(code)}")
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
            check.add(f"{place}.{operator}", f'{quoted(item)} is not an option of question "{code}"')
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


def quoted(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else _describe(value)


def _suggestion(key: Any, allowed: set[str]) -> str:
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _language_name(code: str) -> str:
    name = LANGUAGE_NAMES.get(code)
    return f'{name} ("{code}")' if name else f'"{code}"'
