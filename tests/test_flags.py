"""Flags generated from config dataclasses: defaults in one place, keyword construction, finite numbers."""

import argparse
import math
from dataclasses import dataclass, field

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from heedful.cli.flags import add_config_flags, config_from_args
from heedful.errors import InputError
from heedful.fields import param


@dataclass(frozen=True)
class Demo:
    epochs: int = param(3, "passes over the data")
    lr: float = 1e-3
    name: str | None = None
    layers: tuple[int, ...] = (1, 2)
    shuffle: bool = param(True, "shuffle the samples")
    note: str = field(default="x", metadata={"help": "free text"})

    def __post_init__(self):
        if self.epochs < 1:
            raise InputError(f"epochs must be >= 1, got {self.epochs}")


def _parser(**kw) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_config_flags(p, Demo, **kw)
    return p


def test_defaults_come_from_the_dataclass_and_show_in_help():
    p = _parser()
    assert config_from_args(Demo, p.parse_args([])) == Demo()
    text = p.format_help()
    assert "passes over the data (default: 3)" in text
    assert "free text (default: x)" in text
    assert "(default: 1,2)" in text


def test_values_are_parsed_by_type_and_built_by_keyword():
    args = _parser().parse_args(["--epochs", "5", "--lr", "0.5", "--layers", "3,4", "--no-shuffle", "--name", "n"])
    assert config_from_args(Demo, args) == Demo(epochs=5, lr=0.5, name="n", layers=(3, 4), shuffle=False)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "abc"])
def test_non_finite_numbers_are_refused_by_the_flag(bad):
    with pytest.raises(argparse.ArgumentError):
        _parser().parse_args(["--lr", bad])


def test_validation_stays_in_the_config():
    args = _parser().parse_args(["--epochs", "0"])
    with pytest.raises(InputError, match="epochs must be >= 1"):
        config_from_args(Demo, args)


def test_prefix_skip_and_override():
    p = argparse.ArgumentParser()
    add_config_flags(p, Demo, prefix="demo_", skip=("note",))
    args = p.parse_args(["--demo-epochs", "7"])
    assert not hasattr(args, "demo_note")
    assert config_from_args(Demo, args, prefix="demo_", lr=0.1) == Demo(epochs=7, lr=0.1)


@given(st.text(max_size=20))
def test_any_text_for_a_float_flag_is_a_clean_usage_error_or_a_finite_value(text):
    assume(not text.startswith("-"))  # argparse reads those as options
    try:
        args = _parser().parse_args(["--lr=" + text])
    except argparse.ArgumentError:
        return
    assert isinstance(args.lr, float) and math.isfinite(args.lr)
