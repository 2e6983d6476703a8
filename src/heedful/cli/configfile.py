"""``--config FILE`` on every command, ``--debug`` anywhere, and which flags were given.

Precedence: a flag given on the command line > the config file > (``table``: its ``--schema`` file) > the default.
A flag given explicitly wins also when it equals its default: the command line is parsed a second time with every
default suppressed, so what is left in that namespace was typed (``given_flags``).

A config file maps option names (``window`` or ``--window``) to values; sections (a TOML table, a YAML or JSON
mapping) are read through, so a run's ``config.json`` (``task_params``, ``train``, ... sections) replays the run.
A key no option of the command has, a value of the wrong type, or a config written by another command is one
``InputError`` naming the file and the key. In a run's own ``config.json`` (a file of that name whose ``command``
is this command), keys that are no option (sizes, sources, derived values the run recorded) are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

from heedful.devices import main_process
from heedful.errors import InputError

__all__ = ["add_common_flags", "apply_config", "given_flags", "leaf_parser"]

CONFIG_HELP = (
    "YAML, TOML or JSON file of option values (keys are option names, e.g. window: 6); flags given here win; "
    "a run's config.json replays it"
)
# options that are about this invocation, not the run: never read from a file, never printed
NOT_CONFIG = {"help", "version", "config", "debug"}
SECRET = {"token"}  # read from a file like any option, but never printed


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    return [
        sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for sub in dict.fromkeys(action.choices.values())
    ]


def _walk(parser: argparse.ArgumentParser):
    yield parser
    for sub in _subparsers(parser):
        yield from _walk(sub)


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """``--debug`` on every sub-command (so it may follow the sub-command) and ``--config`` on every command. A
    required flag may come from the config file: argparse no longer insists on it, ``apply_config`` does."""
    for p in _walk(parser):
        if p is not parser:
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        if p is not parser and not _subparsers(p):
            p.add_argument("--config", metavar="FILE", default=None, help=CONFIG_HELP)
            needed = [a for a in p._actions if a.option_strings and a.required]
            for action in needed:
                action.required = False
            p.set_defaults(required_options=tuple(a.dest for a in needed))


def leaf_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command that ``args`` came from (``heedful process train`` -> its parser)."""
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, action.dest, None) if action is not None else None
        if name is None:
            return parser
        parser = action.choices[name]


def given_flags(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The destinations of the options typed on the command line, whatever their value."""
    saved = []
    for p in _walk(parser):
        for action in p._actions:
            saved.append((action, action.default))
            action.default = argparse.SUPPRESS
    try:
        explicit = parser.parse_args(argv)
    finally:
        for action, default in saved:
            action.default = default
    return set(vars(explicit))


def _options(leaf: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        a.dest: a
        for a in leaf._actions
        if a.option_strings and a.dest not in NOT_CONFIG and a.help is not argparse.SUPPRESS
    }


def _names(options: dict[str, argparse.Action]) -> dict[str, str]:
    """Every name a file may use for an option -> its destination: the destination and each long flag's name
    (``rationale visual --out`` stores into ``npz``: both ``out`` and ``npz`` name it)."""
    names = {dest: dest for dest in options}
    for dest, action in options.items():
        for flag in action.option_strings:
            if flag.startswith("--") and not flag.startswith("--no-"):
                names.setdefault(flag[2:].replace("-", "_"), dest)
    return names


def _annotation(action: argparse.Action):
    """The type a file value of this option must have: the config field's annotation, else read off the flag."""
    found = getattr(action, "annotation", None)
    if found is not None:
        return found
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction | argparse.BooleanOptionalAction):
        return bool
    name = getattr(action.type, "__name__", "")
    if name == "int_list":
        return tuple[int, ...]
    item = {int: int, float: float}.get(action.type, float if name == "finite_float" else str)
    if isinstance(action, argparse._AppendAction) or action.nargs in ("+", "*"):
        return tuple[item, ...]
    return item | None if action.default is None else item


def _dest(path: tuple[str, ...], names: dict, aliases: dict) -> str | None:
    """The option a (section, ..., key) path sets: the command's alias for it in a run record (None: a recorded
    value that is no option), else the longest joined suffix that names an option (``process.epochs`` ->
    ``process_epochs`` in the demo, ``train.epochs`` -> ``epochs``)."""
    dotted = ".".join(path)
    if dotted in aliases:
        return aliases[dotted]
    for i in range(len(path)):
        name = "_".join(path[i:]).replace("-", "_").removeprefix("__")
        if name in names:
            return names[name]
    return None


def _flatten(data: dict, where: str, names: dict, aliases: dict, record: bool) -> dict[str, object]:
    values: dict[str, object] = {}
    origin: dict[str, str] = {}

    def visit(mapping: dict, path: tuple[str, ...]) -> None:
        for key, value in mapping.items():
            if not isinstance(key, str):
                raise InputError(f"{where}: key {key!r} is not a name")
            here = (*path, key)
            if isinstance(value, dict) and ".".join(here) not in aliases:  # a section: no option takes a mapping
                visit(value, here)
                continue
            dest = _dest(here, names, aliases)
            if dest is None:
                if record:
                    continue
                return _unknown(where, ".".join(here), names)
            if dest in values and values[dest] != value:
                raise InputError(f"{where}: {origin[dest]} and {'.'.join(here)} both set {dest}, to different values")
            values[dest], origin[dest] = value, ".".join(here)

    visit(data, ())
    return values


def _unknown(where: str, key: str, names: dict) -> None:
    import difflib

    near = difflib.get_close_matches(key.rsplit(".", 1)[-1].replace("-", "_"), list(names), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise InputError(f"{where}: unknown key {key!r}{hint}; the options of this command are its flags")


def _check(values: dict, options: dict[str, argparse.Action], where: str) -> dict:
    from heedful.fields import check_value

    out = {}
    for dest, value in values.items():
        action = options[dest]
        if isinstance(value, list):
            value = tuple(value)
        try:
            checked = check_value(dest, value, _annotation(action))
        except InputError as err:
            raise InputError(f"{where}: {err}") from None
        if action.choices is not None and checked is not None and checked not in action.choices:
            raise InputError(f"{where}: {dest} must be one of {', '.join(map(str, action.choices))}, got {checked!r}")
        out[dest] = checked
    return out


def _has_sections(data: dict, args: argparse.Namespace) -> bool:
    """A run record that names no command (a 'rationale train' run's): the sections the command says it writes."""
    wanted = getattr(args, "record_sections", ())
    return bool(wanted) and all(isinstance(data.get(k), dict) for k in wanted)


def _command(leaf: argparse.ArgumentParser) -> str:
    return leaf.prog.split(" ", 1)[1] if " " in leaf.prog else leaf.prog


def apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> None:
    """Fill in the options the command line left out from ``--config``; record where each value came from
    (``args.config_sources``: dest -> 'flag' or the file) and print the effective config."""
    leaf = leaf_parser(parser, args)
    options = _options(leaf)
    explicit = given_flags(parser, argv) & set(options)
    sources = dict.fromkeys(sorted(explicit), "flag")
    path = getattr(args, "config", None)
    if path:
        from heedful.configfile import read_config_file

        data = dict(read_config_file(path))
        command = _command(leaf)
        written_by = data.pop("command", None)
        if written_by is not None and written_by != command:
            raise InputError(f"{path}: a config of 'heedful {written_by}', not of 'heedful {command}'")
        record = Path(path).name == "config.json" and (written_by == command or _has_sections(data, args))
        aliases = getattr(args, "record_aliases", {}) if record else {}
        values = _check(_flatten(data, path, _names(options), aliases, record), options, path)
        for dest, value in values.items():
            if dest not in explicit:
                setattr(args, dest, value)
                sources[dest] = path
    missing = [
        options[d].option_strings[-1] for d in getattr(args, "required_options", ()) if getattr(args, d, None) is None
    ]
    if missing:
        raise InputError(f"the following arguments are required: {', '.join(missing)} (as flags or in --config)")
    args.config_sources = sources
    if sources and (path or not getattr(args, "quiet_config", False)) and main_process():  # once per launch
        _print_effective(leaf, args, sources, path, sys.stderr if getattr(args, "quiet_config", False) else sys.stdout)


def _shown(value) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value, ensure_ascii=False)


def _print_effective(leaf, args, sources: dict, path: str | None, stream: typing.TextIO) -> None:
    """One block, a valid YAML config of this command: the options given (flag or file); the rest are defaults."""
    order = [d for d in _options(leaf) if d in sources]
    width = max(len(d) for d in order)
    layers = "flags > " + (f"{path} > " if path else "") + "defaults"
    lines = [f"# effective config ({layers}; options not listed are at their defaults)"]
    lines.append(f"command: {_command(leaf)}")
    for dest in order:
        source = "flag" if sources[dest] == "flag" else "file"
        value = '"(hidden)"' if dest in SECRET else _shown(getattr(args, dest))
        lines.append(f"{dest + ':':{width + 1}} {value}  # {source}")
    print("\n".join(lines), file=stream, flush=True)
