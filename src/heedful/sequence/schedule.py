"""Scheduled sampling (Bengio et al. 2015): how often the decoder sees the gold previous output.

The ratio decays with the training step; the coin is tossed per sample **and per time step** by
``mix_inputs`` (deciding once per sequence is a known trap: the model never learns to recover
mid-sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from heedful.errors import InputError

SCHEDULES = ("constant", "linear", "exponential", "inverse_sigmoid")


@dataclass
class TeacherForcingSchedule:
    """ratio(step) for ``kind``:
    constant: ``start``; linear: max(floor, start - step / k); exponential: max(floor, start · k**step)
    with 0 < k < 1; inverse_sigmoid: k / (k + exp(step / k)) with k >= 1 (the paper's three forms)."""

    kind: str = "inverse_sigmoid"
    k: float = 1000.0
    start: float = 1.0
    floor: float = 0.0

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise InputError(f"unknown teacher-forcing schedule {self.kind!r}; expected one of {', '.join(SCHEDULES)}")
        if not 0.0 <= self.floor <= self.start <= 1.0:
            raise InputError(f"need 0 <= floor <= start <= 1, got floor={self.floor}, start={self.start}")
        if self.kind == "exponential" and not 0.0 < self.k < 1.0:
            raise InputError(f"exponential schedule needs 0 < k < 1, got {self.k}")
        if self.kind in ("linear", "inverse_sigmoid") and self.k <= 0:
            raise InputError(f"{self.kind} schedule needs k > 0, got {self.k}")

    def __call__(self, step: int) -> float:
        if self.kind == "constant":
            return self.start
        if self.kind == "linear":
            ratio = self.start - step / self.k
        elif self.kind == "exponential":
            ratio = self.start * self.k**step
        else:
            ratio = self.start * self.k / (self.k + math.exp(min(step / self.k, 700.0)))
        return max(self.floor, ratio)


def mix_inputs(gold: Tensor, own: Tensor, ratio: float, generator: torch.Generator | None = None) -> Tensor:
    """Per sample: ``gold`` with probability ``ratio``, else ``own``. gold/own: (B,) or (B, D)."""
    if ratio >= 1.0:
        return gold
    if ratio <= 0.0:
        return own
    use_gold = torch.rand(gold.shape[0], device=gold.device, generator=generator) < ratio
    return torch.where(use_gold.view(-1, *([1] * (gold.dim() - 1))), gold, own)
