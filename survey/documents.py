"""Files a person writes (questionnaires, reference data, uploaded targets) read by marshmallow schemas.

The API declares its inputs with marshmallow too (``survey.api.schemas``), so one library reads
everything the site is sent. :class:`DocumentSchema` makes a schema speak to the author: an
unknown key is reported with the key that was probably meant and a missing one as missing, both
at the mapping's own place; :func:`problems` turns marshmallow's nested messages into lines such
as ``pages[1].questions[0].options: has 1 option``. Every problem of a file is reported at once.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validates_schema

__all__ = ["DocumentSchema", "Field", "Items", "Nested", "ValidationError", "add_problem", "describe", "flatten",
           "problems", "quoted"]


MISSING = "missing"  # a required field's message: flatten() places it at the mapping, naming the key


def describe(value: Any) -> str:
    """A value as an author would recognise it in their file."""
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
    return f'"{value}"' if isinstance(value, str) else describe(value)


class DocumentSchema(Schema):
    """A mapping in a file: unknown and missing keys are problems of the mapping itself.

    A missing key (a field declared ``required=True``) is reported where it should have been
    written: ``pages[0]: missing "id"`` (see :func:`flatten`).
    """

    class Meta:
        unknown = EXCLUDE  # reported by _keys, with a suggestion

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.error_messages = {**field_obj.error_messages, "required": MISSING}

    @pre_load
    def _mapping(self, data: Any, **kwargs) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError(f"must be a mapping of keys to values, not {describe(data)}")
        return data

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _keys(self, data: Any, original: Mapping, **kwargs) -> None:
        known = {field.data_key or name: field for name, field in self.load_fields.items()}
        found = [f"unknown key {quoted(key)}{_suggestion(key, known)}" for key in original if key not in known]
        if found:
            raise ValidationError(found)


class _JudgesNone:
    """A field that judges an empty value (``key:`` with nothing after it) as any other wrong
    value, with its own message, unless it allows None."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None and not self.allow_none:
            return self._deserialize(value, attr, data, **kwargs)
        return super().deserialize(value, attr, data, **kwargs)


class Field(_JudgesNone, fields.Field):
    """A value checked by the subclass's ``_deserialize``, which raises ``ValidationError`` with the message."""


class Nested(_JudgesNone, fields.Nested):
    """A mapping read by a :class:`DocumentSchema`; an empty value is "not a mapping"."""


class Items(_JudgesNone, fields.List):
    """A list of at least ``fewest`` items, refused with what it should hold (``a non-empty list of pages``)."""

    def __init__(self, inner: fields.Field, what: str, fewest: int = 1, **kwargs: Any):
        super().__init__(inner, **kwargs)
        self.what, self.fewest = what, fewest

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        if not isinstance(value, list) or len(value) < self.fewest:
            raise ValidationError(f"must be a {'non-empty ' if self.fewest else ''}list of {self.what}, not {describe(value)}")
        return super()._deserialize(value, attr, data, **kwargs)


def flatten(messages: Any, place: str = "") -> list[tuple[str, str]]:
    """``(place, message)`` pairs from marshmallow's nested messages, in the order found.

    A key is a field (``.code``), an index is a list position (``[2]``), and ``_schema`` is the
    mapping itself; the top of the document has the place "". A missing key is a problem of
    the mapping it should be in.
    """
    if isinstance(messages, Mapping):
        return [pair for key, nested in messages.items()
                for pair in ([(place, f'missing "{key}"')] if nested == [MISSING] else flatten(nested, _child(place, key)))]
    if isinstance(messages, list):
        return [pair for message in messages for pair in flatten(message, place)]
    return [(place, str(messages))]


def add_problem(messages: dict, message: str, *place: str | int) -> None:
    """Put ``message`` into ``messages`` at ``place`` (keys and list indices), nested as marshmallow nests them."""
    for key in place:
        messages = messages.setdefault(key, {})
    messages.setdefault("_schema", []).append(message)


def problems(error: ValidationError, top: str = "") -> list[str]:
    """Each problem as ``place: message``; a problem of the whole document is placed at ``top``."""
    return [f"{place or top}: {message}" if place or top else message for place, message in flatten(error.messages)]


def _child(place: str, key: Any) -> str:
    if key == "_schema":
        return place
    if isinstance(key, int):
        return f"{place}[{key}]"
    return f"{place}.{key}" if place else str(key)


def _suggestion(key: Any, allowed: Mapping[str, Any]) -> str:
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""
