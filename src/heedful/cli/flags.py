"""Command-line flags generated from typed config dataclasses, so each default lives in exactly one place.

In the spirit of litgpt's ``args.py`` and Hugging Face's ``HfArgumentParser``: every field of a config becomes
``--field-name`` with the field's type, its default (shown once in the help) and the help stored with the field
(``heedful.fields.param``: ``field(metadata={"help": ...})``, so no source is read and a formatter cannot lose it).
``config_from_args`` builds the config back by keyword, so reordering fields cannot miswire them; the config's
``__post_init__`` validates. Numbers must be finite (``nan``/``inf`` are refused by the flag itself); ``bool``
fields get ``--flag / --no-flag``. Each flag keeps its field's annotation (``action.annotation``): a ``--config``
file's values are checked against it.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Iterable

from heedful.fields import help_of

__all__ = [
    "add_config_flags",
    "config_from_args",
    "escaped",
    "finite_float",
    "flag_name",
    "int_list",
    "shown",
    "with_default",
]


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 1,2,3, got {text!r}") from None


def _str_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _base(tp):
    """(base type, optional) of a resolved annotation: ``int | None`` -> (int, True)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), True
    return tp, False


def _parser_for(tp):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (tuple, list):
        return int_list if args and args[0] is int else _str_list
    return {int: _int, float: finite_float, str: str}.get(tp, str)


def flag_name(name: str, prefix: str = "") -> str:
    return "--" + (prefix + name).replace("_", "-")


def shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple | list) else str(value)


def escaped(text: str) -> str:
    """Help text as argparse formats it: a literal % (as in "the top 10%") is written %%."""
    return text.replace("%", "%%")


def with_default(text: str, default) -> str:
    """``text (default: D)``, once: not when the text already names its default, nor for an empty default (None,
    '' or an empty list: the text says what leaving it out means)."""
    if "(default" in text or default is None or default == "" or default == ():
        return text
    return f"{text} (default: {shown(default)})".strip()


def add_config_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    prefix: str = "",
    skip: Iterable[str] = (),
    only: Iterable[str] | None = None,
    help: dict[str, str] | None = None,
    required: Iterable[str] = (),
) -> None:
    """One flag per field of ``cls`` (minus ``skip``, or just ``only``). ``help`` overrides a field's help text."""
    hints = typing.get_type_hints(cls)
    overrides, skip, required = help or {}, set(skip), set(required)
    only = set(only) if only is not None else None
    for f in dataclasses.fields(cls):
        if f.name in skip or (only is not None and f.name not in only) or not f.init:
            continue
        tp, _ = _base(hints[f.name])
        text = overrides.get(f.name) or help_of(cls, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        dest = (prefix + f.name).replace("-", "_")
        if tp is bool:
            action = parser.add_argument(
                flag_name(f.name, prefix), dest=dest, action=argparse.BooleanOptionalAction, default=default
            )
        else:
            action = parser.add_argument(
                flag_name(f.name, prefix),
                dest=dest,
                type=_parser_for(tp),
                default=None if f.name in required else default,
                required=f.name in required,
                metavar=f.name.upper(),
            )
        # set after construction: BooleanOptionalAction appends its own "(default: ...)" on some Pythons
        action.help = escaped(text if f.name in required else with_default(text, default))
        action.annotation = hints[f.name]


def config_from_args(cls: type, args: argparse.Namespace, *, prefix: str = "", **override):
    """``cls`` built by keyword from the flags ``add_config_flags`` made (fields without a flag keep defaults)."""
    values = {}
    for f in dataclasses.fields(cls):
        dest = (prefix + f.name).replace("-", "_")
        if f.init and hasattr(args, dest):
            values[f.name] = getattr(args, dest)
    return cls(**(values | override))
