"""The one grammar for numbers in users' tables, shared by training (``sources.table``), ``predict``
(``apply``) and the service (``serve.inputs``): what one of them reads as a number, all of them do.

A number is ASCII decimal notation (``12``, ``-0.5``, ``3.``, ``.5``, ``1e-3``): Python's ``float`` would also take
``1_000``, ``infinity`` and other scripts' digits (``١٢``), which pandas refuses, so the two readers disagreed. A
missing cell is empty or one of ``MISSING`` (any case). A number must be finite and within float32's range, the
precision the models compute in: ``1e308`` would pass float64 but overflow every statistic and weight downstream.
"""

from __future__ import annotations

import re

import numpy as np

NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"  # ASCII digits: pandas matches \d as Unicode
_NUMBER = re.compile(NUMBER, re.ASCII)
INFINITE = ("inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")  # read, then refused or filled by name
MISSING = ("", "na", "nan", "n/a", "null", "none", "<na>")
FLOAT32_MAX = float(np.finfo(np.float32).max)


def is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING


def parse_number(text: str, infinite: bool = False) -> float:
    """A cell as a float (NaN when missing; ``inf`` / ``-inf`` only when ``infinite``, for a caller that names or
    fills them itself); ``ValueError`` naming what is wrong otherwise."""
    text = text.strip()
    if text.lower() in MISSING:
        return float("nan")
    if text.lower() in INFINITE:
        if infinite:
            return float(text)
        raise ValueError(f"{text!r} is not a finite number")
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a number: {text[:20]!r}")
    value = float(text)
    if not abs(value) <= FLOAT32_MAX:
        raise ValueError(refusal(value))
    return value


def refusal(value: float) -> str:
    """Why ``value`` (inf, or beyond float32) is refused."""
    if abs(value) <= FLOAT32_MAX:
        return f"{value:g} is fine"
    return f"{value:g} is not a finite number" if np.isinf(value) else f"{value:g} is beyond float32's range (±3.4e38)"


def out_of_range(values: np.ndarray) -> np.ndarray:
    """Where ``values`` hold inf or a magnitude beyond float32 (NaN, a missing value, is not out of range)."""
    with np.errstate(invalid="ignore"):
        return ~np.isnan(values) & ~(np.abs(values) <= FLOAT32_MAX)
