"""Config dataclasses from plain data (JSON records, YAML sweep files): one coercion for every reader.

``coerce`` converts a value read from JSON or YAML to a dataclass field's declared type (an integer
where a float is declared becomes a float, a list where a tuple is declared becomes a tuple) and
refuses values of the wrong type with a ``TypeError`` that says what was expected. ``config_from_dict``
builds a config from a saved record with it; the sweep files are checked with it field by field (no
JAX here: a sweep file parses without it).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

C = TypeVar("C")


def field_types(cls: type) -> dict[str, Any]:
    """The declared type of every field of dataclass ``cls`` (``Any`` where it cannot be resolved)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations: accept any value, the config's own checks still run
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls)}


def coerce(value: Any, tp: Any) -> Any:
    """``value`` converted to field type ``tp`` (int -> float, list -> tuple), or TypeError."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise TypeError(f"must be one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return coerce(value, option)
            except TypeError:
                continue
        raise TypeError(f"got {value!r}, which matches none of {tp}")
    if tp is type(None):
        if value is not None:
            raise TypeError(f"must be null, got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"must be a string, got {value!r}")
        return value
    if origin is tuple or tp is tuple:
        if not isinstance(value, list | tuple):
            raise TypeError(f"must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise TypeError(f"must have {len(args)} entries, got {value!r}")
        return tuple(coerce(v, a) for v, a in zip(args, value, strict=True)) if args else tuple(value)
    if origin is dict or tp is dict or origin is Mapping:
        if not isinstance(value, dict):
            raise TypeError(f"must be a mapping, got {value!r}")
        return dict(value)
    return value


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """An instance of dataclass ``cls`` from ``data`` (a saved record): every value coerced to its
    field's type. ValueError naming the unknown fields, TypeError naming a field of the wrong type."""
    types_ = field_types(cls)
    unknown = set(data) - set(types_)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {sorted(unknown)}")
    values = {}
    for name, value in data.items():
        try:
            values[name] = coerce(value, types_[name])
        except TypeError as exc:
            raise TypeError(f"{cls.__name__}.{name}: {exc}") from None
    return cls(**values)
