"""Questionnaire documents: every validation rule names its place, and the objects behave."""
from __future__ import annotations

import copy
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from survey.questionnaires.loading import default_questionnaire_path, load_file, read_document
from survey.questionnaires.model import AnswerRequired, QuestionnaireError
from survey.questionnaires.validation import parse
from tests.support.polls import WEIGHTING_CODES

DELETE = object()


def both(text: str) -> dict[str, str]:
    return {"en": text, "es": f"{text} (es)"}


def option(code: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "label": both(code.title()), **extra}


def minimal() -> dict[str, Any]:
    """A small valid questionnaire exercising every question type and a condition."""
    return {
        "slug": "test-survey",
        "languages": ["en", "es"],
        "title": both("Test survey"),
        "consent": both("You agree."),
        "pages": [
            {
                "id": "first",
                "title": both("First"),
                "questions": [
                    {
                        "code": "party",
                        "type": "single",
                        "text": both("Party?"),
                        "randomize": True,
                        "options": [option("dem"), option("rep"), option("not_sure", anchored=True)],
                    },
                    {"code": "age", "type": "number", "text": both("Age?"), "minimum": 18, "maximum": 120},
                ],
            },
            {
                "id": "second",
                "title": both("Second"),
                "questions": [
                    {
                        "code": "trust",
                        "type": "rating",
                        "text": both("Trust?"),
                        "minimum": 0,
                        "maximum": 10,
                        "scale_labels": {"low": both("None"), "high": both("Complete")},
                    },
                    {
                        "code": "why",
                        "type": "text",
                        "text": both("Why?"),
                        "required": False,
                        "show_if": {"question": "party", "in": ["dem"]},
                    },
                    {
                        "code": "issues",
                        "type": "multiple",
                        "text": both("Issues?"),
                        "options": [option("economy"), option("housing"), option("other", anchored=True)],
                    },
                ],
            },
        ],
    }


def changed(path: str, value: Any) -> dict[str, Any]:
    """The minimal document with the value at a dotted path set, appended (index = length) or deleted."""
    document = minimal()
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        index = int(last)
        if index == len(node):
            node.append(value)
        elif value is DELETE:
            del node[index]
        else:
            node[index] = value
    elif value is DELETE:
        del node[last]
    else:
        node[last] = value
    return document


def problems_of(document: Any) -> list[str]:
    with pytest.raises(QuestionnaireError) as caught:
        parse(document)
    return caught.value.problems


Q0 = "pages[0].questions[0]"
Q1 = "pages[0].questions[1]"
RATING = "pages[1].questions[0]"
WHY = "pages[1].questions[1]"
IDENTIFIER_RULE = 'is not a simple identifier (lower-case letters, digits and "_", starting with a letter)'
ONLY_SINGLE = "only for single choice questions (a weighting variable has one category per respondent)"
SCREENER = {"end_if": ["rep"], "message": both("Thank you.")}

BAD_DOCUMENTS = [
    # structure and unknown keys
    ("colour", "red", 'questionnaire: unknown key "colour"'),
    ("slug", DELETE, 'questionnaire: missing "slug"'),
    ("slug", "Test Survey", 'slug: "Test Survey" is not a slug (lower-case letters, digits and "-")'),
    ("pages.0.questions.1.requird", True, f'{Q1}: unknown key "requird" (did you mean "required"?)'),
    ("pages.0.questions.0.options.0.colour", "red", f'{Q0}.options[0]: unknown key "colour"'),
    ("pages.0.sections", [], 'pages[0]: unknown key "sections" (did you mean "questions"?)'),
    ("pages", [], "pages: must be a non-empty list of pages, not an empty list"),
    ("pages.1.questions", [], "pages[1].questions: must be a non-empty list of questions, not an empty list"),
    ("pages.0.questions.1", "age", f'{Q1}: must be a mapping of keys to values, not "age"'),
    ("pages.0.questions.1.type", DELETE, f'{Q1}: missing "type"'),
    # languages and texts
    ("title.es", DELETE, 'title: missing Spanish ("es") text'),
    ("pages.0.questions.0.options.1.label.en", DELETE, f'{Q0}.options[1].label: missing English ("en") text'),
    ("pages.0.title.es", "  ", 'pages[0].title: the Spanish ("es") text must be non-empty text'),
    ("consent", "Yes", "consent: must give the text in each language (en, es), not one string"),
    ("title.fr", "Sondage", "title: unknown language \"fr\" (the questionnaire's languages are en, es)"),
    ("pages.1.questions.0.scale_labels.high.es", DELETE, f'{RATING}.scale_labels.high: missing Spanish ("es") text'),
    ("pages.0.questions.1.help", {"en": "Years"}, f'{Q1}.help: missing Spanish ("es") text'),
    ("languages", ["en", "en", "es"], 'languages[1]: duplicate language "en"'),
    # codes
    ("pages.1.questions.0.code", "party", f'{RATING}.code: duplicate question code "party" (first used at {Q0})'),
    ("pages.0.questions.0.options.2.code", "dem", f'{Q0}.options[2]: duplicate code "dem"'),
    ("pages.1.id", "first", 'pages[1].id: duplicate page id "first"'),
    ("pages.1.id", "Second Page", f'pages[1].id: "Second Page" {IDENTIFIER_RULE}'),
    ("pages.0.questions.1.code", "2age", f'{Q1}.code: "2age" {IDENTIFIER_RULE}'),
    ("pages.0.questions.1.code", 7, f'{Q1}.code: must be text, not 7; write it in quotes, "7"'),
    (
        "pages.0.questions.0.options.1.code",
        "Rep Party",
        f'{Q0}.options[1].code: "Rep Party" is not a simple code (lower-case letters, digits, "_", "-" and "+")',
    ),
    ("pages.0.questions.0.options.1.code", 1, f'{Q0}.options[1].code: must be text, not 1; write it in quotes, "1"'),
    ("pages.0.questions.1.type", "slider", f'{Q1}.type: "slider" is not a question type (one of single, multiple, rating, number, text)'),
    # options
    ("pages.0.questions.0.options", [option("dem")], f"{Q0}.options: has 1 option; a question needs at least two"),
    ("pages.0.questions.0.options", "dem, rep", f'{Q0}.options: must be a list of options, not "dem, rep"'),
    ("pages.0.questions.0.options", DELETE, f'{Q0}: missing "options"'),
    ("pages.0.questions.0.options.2.anchored", "yes", f'{Q0}.options[2].anchored: must be true or false, not "yes"'),
    ("pages.0.questions.1.options", [option("a"), option("b")], f"{Q1}.options: only for single and multiple choice questions, not a number question"),
    ("pages.1.questions.0.randomize", True, f"{RATING}.randomize: only for single and multiple choice questions, not a rating question"),
    ("pages.0.questions.1.required", "yes", f'{Q1}.required: must be true or false, not "yes"'),
    # conditions
    ("pages.1.questions.1.show_if.question", "foo", f'{WHY}.show_if: unknown question "foo"'),
    ("pages.1.questions.1.show_if.in", ["green"], f'{WHY}.show_if.in: "green" is not an option of question "party"'),
    (
        "pages.0.questions.1.show_if",
        {"question": "trust", "at_least": 5},
        f'{Q1}.show_if: question "trust" comes later; a condition can only use answers from earlier pages',
    ),
    (
        "pages.1.questions.1.show_if",
        {"question": "trust", "at_least": 5},
        f'{WHY}.show_if: question "trust" is on the same page; a condition can only use answers from earlier pages',
    ),
    ("pages.1.questions.1.show_if", {"question": "why", "in": ["x"]}, f'{WHY}.show_if: question "why" cannot depend on its own answer'),
    ("pages.1.questions.1.show_if", {"question": "age", "in": ["old"]}, f'{WHY}.show_if.in: question "age" is a number question; use at_least or at_most'),
    ("pages.1.questions.1.show_if", {"question": "party", "at_most": 3}, f'{WHY}.show_if.at_most: question "party" is a single question; use in or not_in'),
    ("pages.1.questions.1.show_if", {"question": "age", "at_least": "old"}, f'{WHY}.show_if.at_least: must be a number, not "old"'),
    ("pages.1.questions.1.show_if", {"question": "party"}, f"{WHY}.show_if: needs exactly one of in, not_in, at_least, at_most"),
    ("pages.1.questions.1.show_if", {"question": "party", "in": []}, f"{WHY}.show_if.in: must be a non-empty list of option codes, not an empty list"),
    ("pages.1.questions.1.show_if", {"question": "party", "inn": ["dem"]}, f'{WHY}.show_if: unknown key "inn" (did you mean "in"?)'),
    (
        "pages.1.questions.1.show_if",
        {"all": [{"question": "party", "in": ["dem"]}, {"question": "nope", "in": ["x"]}]},
        f'{WHY}.show_if.all[1]: unknown question "nope"',
    ),
    ("pages.1.questions.1.show_if", {"any": []}, f"{WHY}.show_if.any: must be a non-empty list of conditions, not an empty list"),
    (
        "pages.1.questions.1.show_if",
        {"any": [{"question": "age", "at_least": 65}], "question": "party"},
        f'{WHY}.show_if: "any" must be the only key of its condition',
    ),
    # screeners and attention checks
    ("pages.0.questions.0.screener", {"end_if": ["maybe"], "message": both("Bye")}, f'{Q0}.screener.end_if[0]: "maybe" is not one of the options'),
    (
        "pages.0.questions.0.screener",
        {"end_if": ["dem", "rep", "not_sure"], "message": both("Bye")},
        f"{Q0}.screener.end_if: lists every option, so every respondent would be screened out",
    ),
    ("pages.0.questions.0.screener", {"end_if": ["rep"]}, f'{Q0}.screener: missing "message"'),
    ("pages.0.questions.0.screener", {"end_if": ["rep"], "message": {"en": "Bye"}}, f'{Q0}.screener.message: missing Spanish ("es") text'),
    ("pages.0.questions.0.screener", {"end_if": "rep", "message": both("Bye")}, f'{Q0}.screener.end_if: must be a list of option codes, not "rep"'),
    ("pages.1.questions.2.screener", SCREENER, "pages[1].questions[2].screener: only for single choice questions, not a multiple question"),
    ("pages.0.questions.0.attention_check", "agree", f'{Q0}.attention_check: the expected answer "agree" is not one of the options'),
    ("pages.1.questions.0.attention_check", "agree", f"{RATING}.attention_check: only for single choice questions, not a rating question"),
    # numbers and ratings
    ("pages.0.questions.1.minimum", 130, f"{Q1}: minimum 130 is greater than maximum 120"),
    ("pages.0.questions.1.maximum", DELETE, f'{Q1}: missing "maximum"'),
    ("pages.0.questions.1.minimum", 1.5, f"{Q1}.minimum: must be a whole number, not 1.5"),
    ("pages.0.questions.1.maximum", "lots", f'{Q1}.maximum: must be a number, not "lots"'),
    ("pages.0.questions.1.integer", "no", f'{Q1}.integer: must be true or false, not "no"'),
    ("pages.1.questions.0.maximum", 100, f"{RATING}: a rating scale has at most 21 points; 0 to 100 has 101"),
    ("pages.1.questions.0.maximum", 0, f"{RATING}: a rating scale needs at least two points; minimum and maximum are both 0"),
    ("pages.1.questions.0.minimum", 11, f"{RATING}: minimum 11 is greater than maximum 10"),
    ("pages.1.questions.0.scale_labels", DELETE, f'{RATING}: missing "scale_labels" (what the lowest and highest points mean)'),
    ("pages.1.questions.0.scale_labels", {"low": both("No")}, f'{RATING}.scale_labels: missing "high"'),
    ("pages.1.questions.1.max_length", 0, f"{WHY}.max_length: must be a whole number from 1 to 10000, not 0"),
    ("pages.1.questions.1.minimum", 1, f"{WHY}.minimum: only for number and rating questions, not a text question"),
    # weighting variables
    ("pages.0.questions.1.weighting_variable", "age_group", f"{Q1}.weighting_variable: {ONLY_SINGLE}, not a number question"),
    ("pages.1.questions.2.weighting_variable", "issue", f"pages[1].questions[2].weighting_variable: {ONLY_SINGLE}, not a multiple question"),
    ("pages.0.questions.0.weighting_variable", "Party ID", f'{Q0}.weighting_variable: "Party ID" {IDENTIFIER_RULE}'),
    # nets and bases
    ("pages.0.questions.0.nets", {"major": ["dem", "green"]},
     f'{Q0}.nets.major: "green" is not among the options (dem, not_sure, rep)'),
    ("pages.0.questions.0.nets", {"dem": ["dem", "rep"]}, f'{Q0}.nets.dem: "dem" is already an option code; a net needs a code of its own'),
    ("pages.0.questions.0.nets", {"major": ["dem"]}, f'{Q0}.nets.major: must list at least two answers to add up, not a list'),
    ("pages.0.questions.0.nets", ["dem", "rep"], f"{Q0}.nets: must map each net's code to the answers it adds up, not a list"),
    ("pages.0.questions.0.nets", {"major": {"answers": ["dem", "rep"], "label": {"en": "Major"}}},
     f'{Q0}.nets.major.label: missing Spanish ("es") text'),
    ("pages.1.questions.2.nets", {"money": ["economy", "housing"]},
     "pages[1].questions[2].nets: only for single choice questions (a net adds up answers of which each respondent "
     "gives one), not a multiple question"),
    ("pages.0.questions.0.base", both("Democrats"), f"{Q0}.base: describes who is asked, so it needs a show_if "
     "(everyone else is asked by default)"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD_DOCUMENTS, ids=[case[2] for case in BAD_DOCUMENTS])
def test_each_mistake_is_reported_once_with_its_place(path, value, expected):
    assert problems_of(changed(path, value)) == [expected]


def test_nets_and_bases_are_read_with_their_labels():
    document = changed("pages.0.questions.0.nets", {
        "major": ["dem", "rep"],
        "sure": {"answers": ["rep", "dem"], "label": both("Either party")},
    })
    document["pages"][1]["questions"][1]["base"] = both("Asked of Democrats")
    questionnaire = parse(document)
    major, sure = questionnaire.question("party").nets
    assert (major.code, major.answers, major.label) == ("major", ("dem", "rep"), {"en": "Dem or Rep", "es": "Dem (es) o Rep (es)"})
    assert (sure.answers, sure.label["en"]) == (("rep", "dem"), "Either party")
    assert questionnaire.question("why").base == both("Asked of Democrats")


def test_each_question_knows_its_page_columns_and_who_is_asked():
    questionnaire = parse(minimal())
    party, trust, why, issues = (questionnaire.question(code) for code in ("party", "trust", "why", "issues"))
    assert (party.page, why.page) == ("first", "second")
    assert issues.multiple and issues.columns == tuple(f"issues__{code}" for code in issues.option_codes)
    assert (party.columns, party.closed, party.scale) == (("party",), True, None)
    assert trust.numeric and not trust.closed and trust.scale == (0.0, 10.0)
    assert party.base is None and party.base_text("es") == "Todas las personas encuestadas"
    assert why.base_text() == "Asked of those who answered “Dem” to party"
    either = {"any": [{"question": "party", "in": ["dem"]}, {"question": "age", "at_least": 65}]}
    assert parse(changed("pages.1.questions.1.show_if", either)).question("why").base_text("es") == (
        "Preguntada solo a una parte de las personas (vea las condiciones del cuestionario)")


def test_the_minimal_document_is_valid():
    questionnaire = parse(minimal())
    assert [question.code for question in questionnaire.questions] == ["party", "age", "trust", "why", "issues"]
    assert questionnaire.page_index("second") == 1
    assert questionnaire.question("trust").scale_labels.high["es"] == "Complete (es)"


def test_a_screener_must_be_required():
    document = changed("pages.0.questions.0.screener", SCREENER)
    document["pages"][0]["questions"][0]["required"] = False
    assert problems_of(document) == [
        f"{Q0}.screener: a screener question must be required (a skipped screener would let anyone through)"
    ]


def test_duplicate_weighting_variables_are_reported_at_the_second():
    document = changed("pages.0.questions.0.weighting_variable", "party")
    extra = {"code": "party_again", "type": "single", "text": both("Again?"), "weighting_variable": "party",
             "options": [option("dem"), option("rep")]}
    document["pages"][1]["questions"].append(extra)
    assert problems_of(document) == [
        f'pages[1].questions[3].weighting_variable: duplicate weighting variable "party" (also at {Q0})'
    ]


def test_a_questionnaire_without_spanish_is_refused():
    problems = problems_of(changed("languages", ["en"]))
    assert problems[0] == 'languages: must include Spanish ("es")'


def test_a_document_that_is_not_a_mapping_is_refused():
    assert problems_of(["pages"]) == ["questionnaire: must be a mapping of keys to values, not a list"]


def test_every_mistake_is_reported_at_once():
    document = changed("title.es", DELETE)
    document["pages"][0]["questions"][1]["minimum"] = 500
    document["pages"][1]["questions"][1]["show_if"]["question"] = "foo"
    assert problems_of(document) == [
        'title: missing Spanish ("es") text',
        f"{Q1}: minimum 500 is greater than maximum 120",
        f'{WHY}.show_if: unknown question "foo"',
    ]


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slug: test\ntitle: {en: a\n", "line 3, column 1: expected ',' or '}', but got '<stream end>'"),
        ("slug: test\n  title: x\n", "line 2, column 8: mapping values are not allowed here"),
        ("slug: a\nslug: b\n", 'line 2, column 1: duplicate key "slug"'),
        ("slug: a\n\tpages: []\n", "line 2, column 1: found character '\\t' that cannot start any token"),
    ],
)
def test_bad_yaml_is_reported_with_its_line(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path)
    assert caught.value.problems == [f"{path}: {expected}"]


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(QuestionnaireError) as caught:
        load_file(tmp_path / "nothing.yaml")
    assert caught.value.problems == [f"{tmp_path / 'nothing.yaml'}: no such file"]


def test_a_file_that_is_not_utf8_is_reported(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: café".encode("latin-1"))
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path)
    assert caught.value.problems[0].startswith(f"{path}: cannot be read:")


def test_yes_no_and_dates_stay_text():
    """YAML 1.1 would read the option code ``no`` as false and ``2025-01-01`` as a date."""
    document = read_document("codes: [yes, no, on, off, 2025-01-01, 18-29, 65+]\nflag: true\n")
    assert document == {"codes": ["yes", "no", "on", "off", "2025-01-01", "18-29", "65+"], "flag": True}


def test_a_problem_in_a_file_keeps_its_place(tmp_path):
    document = minimal()
    document["pages"][0]["questions"][0]["options"][2]["code"] = "dem"
    path = tmp_path / "duplicate.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    with pytest.raises(QuestionnaireError) as caught:
        load_file(path)
    assert caught.value.problems == [f'{Q0}.options[2]: duplicate code "dem"']


# --------------------------------------------------------------------------- behaviour


def test_randomized_order_keeps_anchored_options_in_place():
    question = parse(minimal()).question("party")
    orders = Counter(tuple(question.option_order(random.Random(seed))) for seed in range(200))
    assert set(orders) == {("dem", "rep", "not_sure"), ("rep", "dem", "not_sure")}
    assert min(orders.values()) > 60  # both orders are common, not one by accident


def test_an_anchored_option_in_the_middle_stays_there():
    document = minimal()
    document["pages"][0]["questions"][0]["options"] = [
        option("dem"), option("rep"), option("none", anchored=True), option("green"), option("libertarian")
    ]
    question = parse(document).question("party")
    orders = {tuple(question.option_order(random.Random(seed))) for seed in range(100)}
    assert len(orders) > 6
    assert all(order[2] == "none" and sorted(order) == ["dem", "green", "libertarian", "none", "rep"] for order in orders)


def test_without_randomize_the_order_is_the_file_order():
    question = parse(minimal()).question("issues")
    assert question.option_order(random.Random(3)) == ["economy", "housing", "other"]


@pytest.mark.parametrize(
    ("condition", "answers", "shown"),
    [
        ({"question": "party", "in": ["dem"]}, {"party": "dem"}, True),
        ({"question": "party", "in": ["dem"]}, {"party": "rep"}, False),
        ({"question": "party", "in": ["dem"]}, {}, False),
        ({"question": "party", "not_in": ["dem"]}, {"party": "rep"}, True),
        ({"question": "party", "not_in": ["dem"]}, {}, False),
        ({"question": "age", "at_least": 65}, {"age": 70}, True),
        ({"question": "age", "at_least": 65}, {"age": 64}, False),
        ({"question": "age", "at_most": 29}, {"age": 29}, True),
        ({"question": "trust", "at_most": 3}, {"trust": 5}, False),
        ({"question": "issues", "in": ["housing"]}, {"issues": ["economy", "housing"]}, True),
        ({"question": "issues", "not_in": ["housing"]}, {"issues": ["economy"]}, True),
        ({"all": [{"question": "party", "in": ["rep"]}, {"question": "age", "at_least": 65}]}, {"party": "rep", "age": 70}, True),
        ({"all": [{"question": "party", "in": ["rep"]}, {"question": "age", "at_least": 65}]}, {"party": "rep", "age": 40}, False),
        ({"any": [{"question": "party", "in": ["rep"]}, {"question": "age", "at_least": 65}]}, {"party": "dem", "age": 70}, True),
        ({"any": [{"question": "party", "in": ["rep"]}, {"question": "age", "at_least": 65}]}, {"party": "dem", "age": 30}, False),
    ],
)
def test_conditions(condition, answers, shown):
    document = minimal()
    follow_up = {"code": "follow_up", "type": "text", "text": both("More?"), "show_if": condition}
    document["pages"].append({"id": "third", "title": both("Third"), "questions": [follow_up]})
    questionnaire = parse(document)
    assert questionnaire.question("follow_up").is_shown(answers) is shown
    assert (questionnaire.next_page_id("second", answers) == "third") is shown


def test_the_next_page_skips_pages_with_nothing_to_ask():
    document = minimal()
    document["pages"].insert(1, {"id": "dems", "title": both("Dems"), "questions": [
        {"code": "dem_only", "type": "text", "text": both("?"), "show_if": {"question": "party", "in": ["dem"]}}
    ]})
    questionnaire = parse(document)
    assert questionnaire.next_page_id(None, {}) == "first"
    assert questionnaire.next_page_id("first", {"party": "rep"}) == "second"
    assert questionnaire.next_page_id("first", {"party": "dem"}) == "dems"
    assert questionnaire.next_page_id("second", {"party": "dem"}) is None


@pytest.mark.parametrize(
    ("code", "posted", "stored"),
    [
        ("party", "rep", "rep"),
        ("issues", ["other", "economy"], ["economy", "other"]),
        ("issues", "housing", ["housing"]),
        ("age", "42", 42),
        ("age", 18, 18),
        ("age", 120.0, 120),
        ("trust", "0", 0),
        ("trust", " 10 ", 10),
        ("why", "  Because.  ", "Because."),
        ("why", "", None),
        ("why", None, None),
    ],
)
def test_valid_answers_are_returned_in_their_stored_form(code, posted, stored):
    assert parse(minimal()).question(code).validate_answer(posted) == stored


@pytest.mark.parametrize(
    ("code", "posted", "message"),
    [
        ("party", "green", "'green' is not an option of question \"party\""),
        ("party", ["dem"], "['dem'] is not an option of question \"party\""),
        ("issues", ["economy", "economy"], 'question "issues": an option was chosen twice'),
        ("issues", ["economy", "crime"], "'crime' is not an option of question \"issues\""),
        ("issues", {"economy": 1}, "question \"issues\" takes a list of option codes, not {'economy': 1}"),
        ("age", "17", 'question "age" takes a number from 18 to 120, not 17'),
        ("age", "forty", "question \"age\" takes a whole number, not 'forty'"),
        ("age", 40.5, 'question "age" takes a whole number, not 40.5'),
        ("age", True, 'question "age" takes a whole number, not True'),
        ("age", float("nan"), 'question "age" takes a whole number, not nan'),
        ("trust", "11", 'question "trust" takes a number from 0 to 10, not 11'),
        ("trust", "-1", 'question "trust" takes a number from 0 to 10, not -1'),
        ("why", "x" * 2001, 'question "why" takes at most 2000 characters'),
        ("why", "a\x00b", 'question "why": the text contains control characters'),
        ("why", 5, 'question "why" takes text, not 5'),
    ],
)
def test_tampered_answers_are_refused(code, posted, message):
    with pytest.raises(ValueError) as caught:
        parse(minimal()).question(code).validate_answer(posted)
    assert str(caught.value) == message
    assert not isinstance(caught.value, AnswerRequired)


@pytest.mark.parametrize("posted", [None, "", "  ", []])
def test_an_empty_required_answer_asks_again(posted):
    with pytest.raises(AnswerRequired, match='question "party" needs an answer'):
        parse(minimal()).question("party").validate_answer(posted)


def test_decimal_numbers_when_allowed():
    document = changed("pages.0.questions.1.integer", False)
    document["pages"][0]["questions"][1]["minimum"] = 0.5
    question = parse(document).question("age")
    assert question.validate_answer("20.25") == 20.25
    with pytest.raises(ValueError, match="from 0.5 to 120"):
        question.validate_answer("0.25")


def test_screeners_and_attention_checks():
    document = changed("pages.0.questions.0.screener", SCREENER)
    document["pages"][0]["questions"][0]["attention_check"] = "dem"
    question = parse(document).question("party")
    assert question.ends_survey("rep") and not question.ends_survey("dem")
    assert question.passes_attention_check("dem") and not question.passes_attention_check("rep")
    assert question.screener.message == both("Thank you.")


def test_the_parsed_document_is_a_copy():
    document = minimal()
    questionnaire = parse(document)
    document["slug"] = "changed"
    assert questionnaire.document["slug"] == "test-survey"
    assert questionnaire.source_hash == parse(copy.deepcopy(minimal())).source_hash


# --------------------------------------------------------------------------- the default questionnaire


@pytest.fixture(scope="module")
def california():
    return load_file(default_questionnaire_path())


def _texts(node: Any, place: str = ""):
    """Every ``{en: ..., es: ...}`` mapping in the raw document, with its place."""
    if isinstance(node, dict):
        if "en" in node or "es" in node:
            yield place, node
        for key, value in node.items():
            yield from _texts(value, f"{place}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _texts(value, f"{place}[{index}]")


def test_the_default_questionnaire_is_complete_in_english_and_spanish(california):
    texts = list(_texts(california.document))
    assert len(texts) > 90
    for place, text in texts:
        assert set(text) == {"en", "es"}, place
        assert text["en"].strip() and text["es"].strip(), place
    differing = [place for place, text in texts if text["en"] != text["es"]]
    assert len(differing) > 0.8 * len(texts)  # translated, not copied (names and numbers may match)


def test_the_default_questionnaire_has_the_codes_weighting_needs(california):
    expected = {
        **WEIGHTING_CODES,
        "party": ["dem", "rep", "npp", "other"],
        "vote_2024": ["harris", "trump", "other", "did_not_vote"],
    }
    weighting = {q.weighting_variable: q for q in california.questions if q.weighting_variable}
    assert {name: list(q.option_codes) for name, q in weighting.items()} == expected
    assert all(q.code == name for name, q in weighting.items())


def test_the_default_questionnaire_asks_the_headline_questions(california):
    calexit = california.question("calexit")
    assert calexit.option_codes == ("yes", "no", "unsure") and calexit.randomize
    assert [option.code for option in calexit.options if option.anchored] == ["unsure"]
    civil_war = california.question("civil_war_5yr")
    assert civil_war.option_codes == ("very_likely", "somewhat_likely", "not_very_likely", "not_at_all_likely", "not_sure")
    assert civil_war.option("not_sure").anchored
    assert "second civil war" in civil_war.text["en"] and "five years" in civil_war.text["en"]
    trust = california.question("trust")
    assert (trust.type, trust.minimum, trust.maximum) == ("rating", 0, 10)
    assert california.question("attention").attention_check == "somewhat_disagree"
    assert not california.question("comment").required
    assert {"jefferson", "sue_federal"} <= {q.code for q in california.questions}


def test_the_default_screeners_end_the_survey_politely(california):
    screeners = [q for q in california.questions if q.screener]
    assert [q.code for q in screeners] == ["resident", "adult", "registered"]
    assert all(california.page_of(q.code).id == california.pages[0].id for q in screeners)
    assert all(q.ends_survey("no") and not q.ends_survey("yes") for q in screeners)
    assert all(q.screener.message["en"].startswith("Thank you") for q in screeners)
    assert all(q.screener.message["es"].startswith("Gracias") for q in screeners)


def test_the_default_questionnaire_branches(california):
    reasons = california.question("calexit_reason")
    assert reasons.is_shown({"calexit": "yes"}) and not reasons.is_shown({"calexit": "no"})
    assert california.next_page_id("calexit", {"calexit": "no"}) == "the_country"
    assert california.next_page_id("calexit", {"calexit": "yes"}) == "calexit_reasons"


def test_the_documented_example_is_valid():
    text = (Path(__file__).resolve().parents[3] / "docs" / "questionnaire.md").read_text(encoding="utf-8")
    example = parse(read_document(re.search(r"```yaml\n(.*?)```", text, re.S).group(1)))
    assert [q.code for q in example.questions] == ["adult", "age_group", "mode", "satisfaction", "transit_days", "comment"]
    assert not example.question("transit_days").is_shown({"mode": "car"})
    assert example.question("transit_days").is_shown({"mode": "transit"})
