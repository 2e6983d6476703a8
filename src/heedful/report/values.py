"""How one metric value is shown: accuracies and rates as percentages, other floats with four significant digits.

A key names what its values are: ``per_fault_accuracy`` makes every number below it a percentage, so nested
per-class tables read the same as their headline."""

from __future__ import annotations

import re

# keys whose values are fractions of 1 shown as percentages; "learning_rate" / "lr" are settings, not fractions
_PERCENT = re.compile(r"accuracy|(^|_)acc($|_)|recall|precision|detection|false_alarm|chance|(^|_)rate$|share$")
_NOT_PERCENT = re.compile(r"learning_rate|(^|_)lr$")


def is_percent_key(key) -> bool:
    text = str(key).lower()
    return bool(_PERCENT.search(text)) and not _NOT_PERCENT.search(text)


def cell(value, percent: bool = False) -> str:
    """One scalar as text: ``0.91234`` under a percent key is ``91.23%``; ints get thousands separators."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if percent and -1.0 <= value <= 1.0:
            return f"{100 * value:.2f}%"
        return f"{value:.4g}"
    return str(value)


def is_scalar(value) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
