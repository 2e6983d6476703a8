"""The one interface the faithfulness measures need from a model, whichever track it comes from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from heedful.errors import InputError

KINDS = ("classification", "regression")


@dataclass
class Explainable:
    """A model as the faithfulness measures see it.

    ``forward(x, lengths) -> (output, attention)``, with x (B, T, C) scaled inputs and lengths (B,) int64 valid
    steps (or None: all T valid). ``output``: (B, K) class logits for kind ``classification``, any (B, ...) values
    for ``regression``. ``attention``: (B, T) one weight per input step, (B, S, T) one row per output step (read
    as their mean over S), or None for a model without attention.
    """

    forward: Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor | None]]
    kind: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"kind must be one of {KINDS}, got {self.kind!r}")


def step_attention(attention: Tensor | None) -> Tensor | None:
    """(B, T) or (B, S, T) -> (B, T): the attention each input step receives (averaged over output steps)."""
    if attention is None or attention.dim() == 2:
        return attention
    if attention.dim() == 3:
        return attention.mean(1)
    raise InputError(f"attention: expected (B, T) or (B, S, T), got {tuple(attention.shape)}")
