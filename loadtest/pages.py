"""Reading the survey's pages as a browser does, and answering them: forms, CSRF and signed fields."""
from __future__ import annotations

import hashlib
import html
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

INPUT = re.compile(r"<input\b([^>]*)>")
TEXTAREA = re.compile(r"<textarea\b([^>]*)>")
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
RESUME_LINK = re.compile(r'class="resume-link"><a href="([^"]+)"')


@dataclass
class PageForm:
    """What a respondent's browser sees in a questionnaire page's form."""

    hidden: dict[str, str]
    choices: dict[str, list[str]]  # question field name -> offered values (radio and checkbox)
    multiple: set[str]  # the checkbox fields
    free: list[str]  # text inputs and text areas, by field name
    resume_link: Optional[str]


def read_form(page_html: str) -> PageForm:
    """The hidden fields, question fields and resume link of a respondent page."""
    form = PageForm(hidden={}, choices={}, multiple=set(), free=[], resume_link=None)
    for match in INPUT.finditer(page_html):
        attributes = {name: html.unescape(value) for name, value in ATTRIBUTE.findall(match.group(1))}
        name, kind = attributes.get("name", ""), attributes.get("type", "text")
        if kind == "hidden":
            form.hidden[name] = attributes.get("value", "")
        elif name.startswith("q_") and kind in ("radio", "checkbox"):
            form.choices.setdefault(name, []).append(attributes["value"])
            if kind == "checkbox":
                form.multiple.add(name)
        elif name.startswith("q_"):
            form.free.append(name)
    for match in TEXTAREA.finditer(page_html):
        attributes = dict(ATTRIBUTE.findall(match.group(1)))
        if attributes.get("name", "").startswith("q_"):
            form.free.append(attributes["name"])
    if link := RESUME_LINK.search(page_html):
        form.resume_link = html.unescape(link.group(1))
    return form


def choose_answers(form: PageForm, questionnaire, rng: random.Random, respondent: int) -> dict[str, Any]:
    """Answers a cooperative respondent gives, by field name: passes screeners and attention checks.

    Free text includes markup and non-ASCII letters, so escaping and encoding are exercised too.
    """
    answers: dict[str, Any] = {}
    for name, offered in form.choices.items():
        question = questionnaire.question(name[2:])
        if question.attention_check:
            answers[name] = question.attention_check
        elif name in form.multiple:
            answers[name] = rng.sample(offered, rng.randint(1, len(offered)))
        else:
            allowed = [value for value in offered if not question.ends_survey(value)]
            answers[name] = rng.choice(allowed)
    for name in form.free:
        question = questionnaire.question(name[2:])
        if question.type == "number":
            answers[name] = str(rng.randint(int(question.minimum), int(question.maximum)))
        else:
            answers[name] = f"Respondent {respondent}: <em>¡sí!</em> & \"quotes\""
    return answers


def stored_form(questionnaire, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers as the site must store them (codes, numbers, stripped text), by question code."""
    return {name[2:]: questionnaire.question(name[2:]).validate_answer(value) for name, value in answers.items()}


def token_hash(token: str) -> str:
    """The site stores only this hash of a resume token (see survey.responses.tokens.token_hash)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
