"""Reading a config file: YAML (``.yaml`` / ``.yml``), TOML (``.toml``) or JSON (``.json``, e.g. a run's
``config.json``), always to a ``dict`` of plain values, or one ``InputError`` naming the file and the problem.

What the keys mean is the reader's business (``heedful.cli.configfile`` maps them to a command's flags).
"""

from __future__ import annotations

import json
from pathlib import Path

from heedful.errors import InputError

__all__ = ["SUFFIXES", "read_config_file"]

SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def _toml(text: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, published as tomli (a dependency there)
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"not valid TOML: {err}") from None


def _yaml(text: str):
    import yaml

    try:
        return yaml.safe_load(text)  # plain values only: no Python objects from tags
    except yaml.YAMLError as err:
        raise ValueError(f"not valid YAML: {' '.join(str(err).split())}") from None


def _json(text: str):
    try:
        return json.loads(text)  # NaN / Infinity parse: the type check refuses them by key
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {err}") from None


def read_config_file(path: str | Path) -> dict:
    """The file's top-level mapping. The format follows the suffix; a BOM is accepted; an empty YAML file is {}."""
    where = Path(path)
    if where.suffix.lower() not in SUFFIXES:
        raise InputError(f"{where}: a config file is .yaml, .yml, .toml or .json, got {where.suffix or 'no suffix'!r}")
    try:
        text = where.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{where}: not UTF-8 text (save the config file as UTF-8)") from None
    except OSError as err:
        raise InputError(f"{where}: cannot read the config file: {err.strerror}") from None
    parse = {".toml": _toml, ".json": _json}.get(where.suffix.lower(), _yaml)
    try:
        found = parse(text)
    except ValueError as err:
        raise InputError(f"{where}: {err}"[:300]) from None
    if found is None:
        return {}
    if not isinstance(found, dict) or not all(isinstance(k, str) for k in found):
        raise InputError(f"{where}: expected a mapping of option names to values, got {type(found).__name__}")
    return found
