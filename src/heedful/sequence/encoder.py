"""Bidirectional (or unidirectional) RNN encoders with Keras-style merge modes.

Variable lengths are packed (``pack_padded_sequence``), so the backward direction starts at each
sequence's own last valid step rather than on padding, and padded steps of the output are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from heedful.attention.functional import padding_mask
from heedful.errors import InputError

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
MERGE_MODES = ("concat", "sum", "mul", "ave")


def check_choice(what: str, value: str, choices) -> None:
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}; expected one of: {', '.join(choices)}")


@dataclass
class EncoderOutput:
    """outputs (B, T, out_dim) merged; forward/backward (B, T, H) per direction (backward is None
    for a unidirectional encoder); h_n (L, D, B, H) final states per layer and direction, c_n the same
    for LSTM cells; mask (B, T) True at valid steps."""

    outputs: Tensor
    forward: Tensor
    backward: Tensor | None
    h_n: Tensor
    c_n: Tensor | None
    mask: Tensor

    @property
    def summary(self) -> Tensor:
        """(B, D*H): last layer's final forward state (at each sequence's last valid step) joined with
        the final backward state (at step 0)."""
        last = self.h_n[-1]  # (D, B, H)
        return torch.cat(list(last), dim=-1)


class BiRNNEncoder(nn.Module):
    """x (B, T, input_size), lengths (B,) or None -> EncoderOutput.

    merge: how the two directions of the top layer are combined into ``outputs``: ``concat``
    (2H), ``sum``, ``mul`` or ``ave`` (H). Stacked layers feed the next layer both directions
    concatenated, as cuDNN / ``nn.LSTM`` do; the merge applies to the top layer only.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        dropout: float = 0.0,
        merge: str = "concat",
    ):
        super().__init__()
        check_choice("cell", cell, CELLS)
        check_choice("merge mode", merge, MERGE_MODES)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.cell, self.bidirectional, self.merge = cell, bidirectional, merge
        self.rnn = CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.hidden_size * (2 if self.bidirectional and self.merge == "concat" else 1)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> EncoderOutput:
        self._check_input(x, lengths)
        b, t, _ = x.shape
        if lengths is None or bool((lengths == t).all()):
            out, state = self.rnn(x)
            mask = torch.ones(b, t, dtype=torch.bool, device=x.device)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
            mask = padding_mask(lengths.to(x.device), t)
        h_n, c_n = state if self.cell == "lstm" else (state, None)
        shape = (self.num_layers, self.num_directions, b, self.hidden_size)
        fwd, bwd = (out[..., : self.hidden_size], out[..., self.hidden_size :]) if self.bidirectional else (out, None)
        return EncoderOutput(
            outputs=self._merge(out, fwd, bwd),
            forward=fwd,
            backward=bwd,
            h_n=h_n.view(shape),
            c_n=None if c_n is None else c_n.view(shape),
            mask=mask,
        )

    def _merge(self, out: Tensor, fwd: Tensor, bwd: Tensor | None) -> Tensor:
        if bwd is None or self.merge == "concat":
            return out
        if self.merge == "sum":
            return fwd + bwd
        if self.merge == "mul":
            return fwd * bwd
        return (fwd + bwd) * 0.5

    def _check_input(self, x: Tensor, lengths: Tensor | None) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise InputError(f"encoder input: expected (B, T, {self.input_size}), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise InputError(f"encoder input: expected a floating dtype, got {x.dtype}")
        if lengths is None:
            return
        if lengths.dim() != 1 or lengths.shape[0] != x.shape[0]:
            raise InputError(f"lengths: expected shape ({x.shape[0]},), got {tuple(lengths.shape)}")
        if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]):
            raise InputError(
                f"lengths must lie in [1, {x.shape[1]}], got min {int(lengths.min())}, max {int(lengths.max())}"
            )
