"""Reading YAML that comes from outside (uploaded targets, questionnaire files): small, shallow, no aliases.

A few hundred bytes of nested aliases (``&a``/``*a``) expand to gigabytes once built into Python
objects, and deep nesting overflows the interpreter's stack. ``SafeLoader`` stops neither, so
every such file is read with ``load_untrusted`` below, which refuses both while the document is composed,
before anything is expanded, and refuses a text over ``MAX_BYTES``.
"""
from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32


class UnsafeYamlError(yaml.MarkedYAMLError):
    """A document this site does not read: an alias, nesting deeper than ``MAX_DEPTH``, or too large."""


class StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses aliases and nesting deeper than ``MAX_DEPTH``."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise UnsafeYamlError(
                problem="aliases (*name) are not accepted; write each value out in full",
                problem_mark=self.peek_event().start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise UnsafeYamlError(
                    problem=f"the document is nested more than {MAX_DEPTH} levels deep",
                    problem_mark=self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_untrusted(text: str, loader: type[StrictLoader] = StrictLoader) -> Any:
    """Parse ``text`` with ``loader`` (a ``StrictLoader``); raises ``yaml.YAMLError`` for the person to read."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise UnsafeYamlError(problem=f"the document is larger than {MAX_BYTES // 1024} KB")
    return yaml.load(text, Loader=loader)
