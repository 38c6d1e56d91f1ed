"""Questionnaire files: YAML without YAML 1.1's surprises, read and validated in one call."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from survey.documents import quoted
from survey.safe_yaml import StrictLoader, load_untrusted
from survey.questionnaires.model import Questionnaire, QuestionnaireError
from survey.questionnaires.validation import parse

FILES = Path(__file__).resolve().parent  # the shipped questionnaires live beside this package's modules


class _Loader(StrictLoader):
    """YAML without the surprises of YAML 1.1: ``no`` stays the text "no", dates stay text,
    and a key written twice is an error instead of the last one silently winning; no aliases
    and no deep nesting either (``survey.safe_yaml``)."""

    def construct_mapping(self, node, deep=False):
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {quoted(key)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in StrictLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def read_document(text: str, name: str = "questionnaire") -> Any:
    """Read YAML text; a syntax error becomes a problem naming the line and column."""
    try:
        return load_untrusted(text, _Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = error.problem or error.context or "not valid YAML"
        raise QuestionnaireError([f"{name}:{where} {problem}"]) from None
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
    return FILES / f"{name}.yaml"
