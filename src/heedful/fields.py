"""Typed config fields: the help each flag shows, and the one type check every config goes through (pydantic).

A config is a plain dataclass. Each field carries its help in ``field(metadata={"help": ...})``, the convention of
Hugging Face's ``HfArgumentParser``, written here as ``param(default, "help")``; the CLI builds its flags from it
(``heedful.cli.flags``), so no source comment is read. ``check_fields`` validates an instance's values against the
annotations with pydantic (called in ``__post_init__``), and ``validate_values`` checks a config file's values the
same way. Rules that relate values (ranges, one field given another) stay in each config's ``__post_init__``.

pydantic is imported inside the checks, not here: building the parser for ``heedful --help`` never needs it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache

from heedful.errors import InputError

__all__ = ["check_fields", "describe", "help_of", "param", "validate_values"]


def param(default, help: str):
    """A dataclass field with a default and the help its flag shows."""
    return dataclasses.field(default=default, metadata={"help": help})


def help_of(cls: type, name: str) -> str:
    """The help of field ``name``: its own, or that of the nearest base class declaring it (a subclass that only
    changes a default keeps the base's help)."""
    for base in cls.__mro__:
        found = getattr(base, "__dataclass_fields__", {}).get(name)
        if found is not None and found.metadata.get("help"):
            return found.metadata["help"]
    return ""


def _union_args(tp) -> tuple | None:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return None


def describe(tp) -> str:
    """A type in words, for messages: ``tuple[int, ...] | str`` -> 'a list of integers or a string'."""
    members = _union_args(tp)
    if members is not None:
        return " or ".join(describe(m) for m in members)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (tuple, list):
        item = describe(args[0]) if args else "values"
        plural = {"an integer": "integers", "a number": "numbers", "a string": "strings"}.get(item, item)
        return f"a list of {plural}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false", type(None): "null"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _whole(value):
    """An integer field takes a float without a fraction (TOML and JSON write 2.0 for 2)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _strict(tp):
    """The pydantic type of an annotation: no coercion across kinds (no ``"5"`` for 5, no ``True`` for 1), finite
    numbers only, lists accepted where a tuple is declared (JSON, TOML and YAML have no tuples)."""
    from pydantic import BeforeValidator, Field, Strict

    members = _union_args(tp)
    if members is not None:
        return typing.Union[tuple(_strict(m) for m in members)]  # noqa: UP007 (a runtime tuple of types)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (tuple, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple[_strict(args[0]), ...]
        return tuple[tuple(_strict(a) for a in args)] if args else tuple
    if tp is int:
        return typing.Annotated[int, BeforeValidator(_whole), Strict()]
    if tp is float:
        return typing.Annotated[float, Strict(), Field(allow_inf_nan=False)]
    if tp in (str, bool):
        return typing.Annotated[tp, Strict()]
    return tp


@cache
def _adapter(tp):
    from pydantic import TypeAdapter

    return TypeAdapter(_strict(tp))


@cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _not_finite(value) -> bool:
    items = value if isinstance(value, tuple | list) else (value,)
    return any(isinstance(v, float) and not math.isfinite(v) for v in items)


def check_value(name: str, value, tp):
    """``value`` as the type ``tp`` declares (2.0 -> 2 for an integer, a list -> a tuple), or an ``InputError``
    naming ``name``, what was expected and what came."""
    from pydantic import ValidationError

    try:
        checked = _adapter(tp).validate_python(value)
    except ValidationError:
        expected = "a finite number" if _not_finite(value) else describe(tp)
        raise InputError(f"{name} must be {expected}, got {value!r}"[:200]) from None
    for v in checked if isinstance(checked, tuple | list) else (checked,):
        if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
            # torch, numpy and range() stop at 64 bits, deep inside and with a traceback
            raise InputError(f"{name} must be an integer of at most 64 bits, got a {len(str(abs(v)))}-digit one")
    return checked


def check_fields(cfg, prefix: str = "") -> None:
    """Every field of the dataclass instance ``cfg`` has its annotated type; values are normalised in place (an
    integral float becomes an int, a list a tuple). Call it first in ``__post_init__``; ``prefix`` starts each
    message (``graph hidden must be an integer``)."""
    hints = _hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        checked = check_value(prefix + f.name, value, hints[f.name])
        if type(checked) is not type(value) or checked != value:
            object.__setattr__(cfg, f.name, checked)  # frozen configs too


def validate_values(values: dict, types_: dict, where: str) -> dict:
    """A config file's ``values`` checked against ``types_`` (name -> annotation): an unknown name or a wrong type
    is one ``InputError`` starting with ``where`` and naming the key."""
    import difflib

    out = {}
    for key, value in values.items():
        if key not in types_:
            near = difflib.get_close_matches(key, list(types_), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise InputError(f"{where}: unknown key {key!r}{hint}")
        try:
            out[key] = check_value(key, value, types_[key])
        except InputError as err:
            raise InputError(f"{where}: {err}") from None
    return out
