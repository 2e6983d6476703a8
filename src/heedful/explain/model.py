"""The one interface the faithfulness measures need from a model, whichever track it comes from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from heedful.errors import InputError

KINDS = ("classification", "regression", "likelihood")


@dataclass
class Explainable:
    """A model as the faithfulness measures see it.

    ``forward(x, lengths) -> (output, attention)``, with x (B, T, C) scaled inputs and lengths (B,) int64 valid
    steps (or None: all T valid). ``output``: (B, K) class logits for kind ``classification``, any (B, ...) values
    for ``regression``, (B,) the mean log-probability per token of a fixed text for ``likelihood`` (a language
    model: its input steps are the units it attends to, e.g. utterances). ``attention``: (B, T) one weight per input
    step, (B, S, T) one row per output step (read as their mean over S), or None for a model without attention.

    ``by_row``: forward is called as ``forward(x, lengths, rows)``, rows (B,) the indices of the batch's samples in
    the measured set, for models whose samples carry more than x (a language model's prompt and text).
    """

    forward: Callable[..., tuple[Tensor, Tensor | None]]
    kind: str
    by_row: bool = False

    def __call__(self, x: Tensor, lengths: Tensor, rows: Tensor) -> tuple[Tensor, Tensor | None]:
        return self.forward(x, lengths, rows) if self.by_row else self.forward(x, lengths)

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
