"""Config files (``--config``): the reader of YAML / TOML / JSON, and the type check their values go through."""

import json
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from heedful.configfile import read_config_file
from heedful.errors import InputError
from heedful.fields import check_value, validate_values

names = st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20),
)
values = st.one_of(scalars, st.lists(st.integers(-1000, 1000), max_size=4))
flat = st.dictionaries(names, values, max_size=6)


def _toml(data: dict) -> str:
    def one(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(map(str, v)) + "]"
        return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else str(v)

    return "".join(f"{k} = {one(v)}\n" for k, v in data.items())


WRITERS = {
    ".yaml": lambda d: yaml.safe_dump(d, allow_unicode=True),
    ".toml": _toml,
    ".json": lambda d: json.dumps(d, ensure_ascii=False),
}


@settings(max_examples=60, deadline=None)
@given(flat, st.sampled_from(sorted(WRITERS)))
def test_every_format_reads_back_what_was_written(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("cfg") / f"c{suffix}"
    path.write_text(WRITERS[suffix](data), encoding="utf-8")
    assert read_config_file(path) == data


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([".yaml", ".toml", ".json"]))
def test_any_bytes_are_a_mapping_or_one_input_error(tmp_path_factory, raw, suffix):
    path = tmp_path_factory.mktemp("cfg") / f"c{suffix}"
    path.write_bytes(raw)
    try:
        found = read_config_file(path)
    except InputError as err:
        assert str(err).startswith(str(path)) and "\n" not in str(err)
        return
    assert isinstance(found, dict) and all(isinstance(k, str) for k in found)


def test_suffix_bom_and_empty_files(tmp_path):
    with pytest.raises(InputError, match=r"\.yaml, \.yml, \.toml or \.json"):
        read_config_file(tmp_path / "c.ini")
    (tmp_path / "e.yaml").write_text("")
    assert read_config_file(tmp_path / "e.yaml") == {}
    (tmp_path / "b.toml").write_text("\ufeffwindow = 6\n", encoding="utf-8")
    assert read_config_file(tmp_path / "b.toml") == {"window": 6}
    (tmp_path / "l.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="expected a mapping"):
        read_config_file(tmp_path / "l.yaml")
    (tmp_path / "n.json").write_text('{"lr": NaN}')
    with pytest.raises(InputError, match="lr must be a finite number, got nan"):
        validate_values(read_config_file(tmp_path / "n.json"), {"lr": float}, "n.json")
    with pytest.raises(InputError, match="cannot read the config file"):
        read_config_file(tmp_path / "missing.yaml")


TYPES = {"epochs": int, "lr": float, "name": str | None, "shuffle": bool, "faults": tuple[int, ...] | str}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("epochs", "3", "epochs must be an integer, got '3'"),
        ("epochs", 2.5, "epochs must be an integer, got 2.5"),
        ("epochs", True, "epochs must be an integer, got True"),
        ("lr", "0.1", "lr must be a number, got '0.1'"),
        ("lr", math.inf, "lr must be a finite number, got inf"),
        ("shuffle", "false", "shuffle must be true or false, got 'false'"),
        ("name", 5, "name must be a string or null, got 5"),
        ("faults", [0, "x"], "faults must be a list of integers or a string"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_key(key, value, message):
    with pytest.raises(InputError) as err:
        validate_values({key: value}, TYPES, "c.yaml")
    assert str(err.value).startswith(f"c.yaml: {message}")


def test_unknown_keys_are_named_with_a_suggestion():
    with pytest.raises(InputError, match=r"c.yaml: unknown key 'epoch' \(did you mean 'epochs'\?\)"):
        validate_values({"epoch": 3}, TYPES, "c.yaml")


def test_values_are_normalised_to_the_declared_type():
    assert check_value("epochs", 2.0, int) == 2 and isinstance(check_value("epochs", 2.0, int), int)
    assert check_value("faults", [0, 1], tuple[int, ...] | str) == (0, 1)
    assert check_value("lr", 1, float) == 1.0
    assert check_value("name", None, str | None) is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(TYPES)), values | st.none())
def test_any_value_is_accepted_with_its_type_or_refused_naming_the_key(key, value):
    try:
        checked = validate_values({key: value}, TYPES, "c.yaml")[key]
    except InputError as err:
        assert str(err).startswith(f"c.yaml: {key} must be ") and "\n" not in str(err)
        return
    expected = {"epochs": int, "lr": float, "shuffle": bool}.get(key)
    if expected is not None:
        assert type(checked) is expected
        assert not isinstance(value, str)  # a string is never read as a number or a truth value
