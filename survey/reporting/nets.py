"""Nets a pollster adds on the results page, without editing the questionnaire.

A net travels in the page's address as ``net=QUESTION:ANSWER+ANSWER`` (repeatable), so a view
with its nets can be bookmarked, shared and downloaded; its code is the ``+``-joined answers,
which is also the ``answer`` its rows carry in every table, the API and the downloads.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from survey.questionnaires.model import Net, Question

NET_SEPARATOR = "+"


class NetError(ValueError):
    """A net that cannot be made as written; the message says what to change."""


def net_parameter(question: str, answers: Sequence[str]) -> str:
    """The ``net=`` value for ``answers`` of ``question``."""
    return f"{question}:{NET_SEPARATOR.join(answers)}"


def added_nets(values: Iterable[str], questions: Sequence[Question]) -> dict[str, tuple[Net, ...]]:
    """Question code -> the nets written in ``values`` (``QUESTION:ANSWER+ANSWER``).

    Raises ``NetError`` for a question that is not single choice or answers it does not have.
    """
    by_code = {q.code: q for q in questions if q.closed and not q.multiple}
    nets: dict[str, list[Net]] = {}
    for value in values:
        code, _, joined = value.partition(":")
        question = by_code.get(code)
        if question is None:
            raise NetError(f"a net needs a single-choice question of this survey, not {code!r} "
                           f"(write net=QUESTION:ANSWER{NET_SEPARATOR}ANSWER)")
        answers = [answer for answer in joined.split(NET_SEPARATOR) if answer]
        known = [o.code for o in question.options]
        unknown = [answer for answer in answers if answer not in known]
        if unknown:
            raise NetError(f"{code} has no answer {', '.join(map(repr, unknown))}; its answers are {', '.join(known)}")
        if len(set(answers)) < 2:
            raise NetError(f"a net of {code} adds up at least two different answers")
        ordered = [answer for answer in known if answer in answers]  # the questionnaire's order, one code per set
        net = Net.from_document(NET_SEPARATOR.join(ordered), ordered, question.options)
        if all(existing.code != net.code for existing in nets.get(code, [])):
            nets.setdefault(code, []).append(net)
    return {code: tuple(found) for code, found in nets.items()}
