"""The value side of the options: a section field (``option``: default, help, choices), each
field's value type, and a params.yaml or flag value coerced to it, with an error naming the key."""

from __future__ import annotations

import functools
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any


@functools.cache
def field_types(kind: type) -> dict[str, type]:
    """Each field's value type (``X | None`` -> X)."""
    hints = typing.get_type_hints(kind)
    return {f.name: next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],) if t is not type(None)) for f in fields(kind)}


@functools.cache
def optional_fields(kind: type) -> frozenset[str]:
    """The fields that may be None (unset)."""
    hints = typing.get_type_hints(kind)
    return frozenset(f.name for f in fields(kind) if type(None) in typing.get_args(hints[f.name]))


def coerce(kind: type, value: Any, where: str) -> Any:
    """``value`` as ``kind`` (ints as floats, numbers and paths as text where text is
    expected); None stays None; anything else is an error naming ``where``."""
    if value is None:
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
    elif kind is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    elif kind is int and not isinstance(value, bool):
        if isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is str and isinstance(value, (str, int, float, Path)) and not isinstance(value, bool):
        return str(value)
    elif kind is tuple and isinstance(value, (str, list, tuple)):
        items = value.split(",") if isinstance(value, str) else value
        if all(isinstance(v, str) for v in items):
            return tuple(v.strip() for v in items if v.strip())
    raise ValueError(f"{where}: expected {kind.__name__}, got {value!r}")


def default_of(kind: type, name: str) -> Any:
    f = next(f for f in fields(kind) if f.name == name)
    return None if f.default is MISSING else f.default
