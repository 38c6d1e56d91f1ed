"""Result objects as plain JSON-able values and back, so a cache shared between processes
(Redis) can hold them: each frozen dataclass is written with its class name, each array
tagged, each tuple as a list. Floats keep every bit (NaN and infinities included, as
``json`` writes them)."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

_TYPE, _ARRAY = "__type__", "__array__"


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_TYPE: type(value).__name__,
                **{f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, np.ndarray):
        return {_ARRAY: value.tolist()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value


def from_plain(value: Any, types: Mapping[str, type]) -> Any:
    """The inverse of :func:`to_plain` for the dataclasses of ``types`` (class name -> class)."""
    if isinstance(value, list):
        return tuple(from_plain(v, types) for v in value)
    if not isinstance(value, Mapping):
        return value
    if _ARRAY in value:
        return np.asarray(value[_ARRAY], dtype=float)
    fields = {k: from_plain(v, types) for k, v in value.items() if k != _TYPE}
    return types[value[_TYPE]](**fields) if _TYPE in value else fields
