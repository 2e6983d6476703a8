"""Bidirectional (or unidirectional) RNN encoders with Keras-style merge modes.

Variable lengths are exact: the backward direction starts at each sequence's own last valid step rather
than on padding, final states are taken at each sequence's own end, and padded steps of the output are zero.
On CPU they run without packing (see ``_VarLenRun``): ``pack_padded_sequence`` makes PyTorch's CPU LSTM
about 10x slower than a full-length batch of the same shape. On CUDA, cuDNN runs packed batches natively.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
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
            out, state = self._packed(x, lengths) if x.is_cuda else _VarLenRun(self, lengths).run(x)
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

    def _packed(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], state

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


# Pre-activation added to one gate at padding steps: sigmoid(±1e4) is exactly 0 / 1 in float32, bfloat16 and float16,
# and 1e4 stays finite in float16, so 0 * 1e4 at valid steps adds exactly nothing.
_HOLD = 1e4


class _VarLenRun:
    """A padded batch of uneven lengths through ``encoder.rnn``: the results of packing, at full-length speed.

    Each layer and direction is one full-length ``torch.lstm`` / ``torch.gru`` call (the kernels ``nn.LSTM`` /
    ``nn.GRU`` use, with the module's own weights) over the whole batch, arranged so that every sequence's
    padding comes *first* and its last valid step is the call's last step:
    - forward direction: each row rolled right by its padding (``T - len``);
    - backward direction: the time axis flipped, which reverses each sequence within its own length.
    Padding steps get one extra input feature (1 at pads, 0 at valid steps) whose weight holds the state at
    zero exactly: -1e4 on the LSTM input gate (i = 0, so c = f·0 + 0·g = 0 and h = o·tanh 0 = 0), +1e4 on the GRU
    update gate (z = 1, so h = 0·n + 1·h = 0). A sequence therefore starts from the zero state at its first
    valid step, as with packing; its final state is the call's final state; the pad steps contribute exactly
    zero to every gradient. Outputs are rolled / flipped back; at pads they are exactly zero (the held state).
    Each layer reads the previous layer's two directions at the original positions, as ``nn.LSTM`` does.
    """

    def __init__(self, encoder: BiRNNEncoder, lengths: Tensor):
        self.enc = encoder
        self.t = t = int(lengths.max())  # steps past the longest sequence are not run
        steps = torch.arange(t, device=lengths.device)
        lens = lengths.long().unsqueeze(1)  # (B, 1)
        self.pad = steps >= lens  # (B, T)
        self.to_right = (steps + lens) % t  # gather index: right-aligned[:, s] = x[:, (s + len) % T]
        self.to_left = (steps - lens) % t  # its inverse

    def run(self, x: Tensor) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        enc, rnn = self.enc, self.enc.rnn
        pad = self.pad.to(x.device).unsqueeze(-1)  # (B, T', 1), T' = max(lengths)
        to_right, to_left = self.to_right.to(x.device), self.to_left.to(x.device)
        layer_in, h_n, c_n = x[:, : self.t], [], []
        for layer in range(enc.num_layers):
            if layer and rnn.dropout and rnn.training:
                layer_in = F.dropout(layer_in, rnn.dropout, training=True)
            if layer == 0:  # whatever the caller left in the pads (even inf or NaN) must not reach a gate
                layer_in = torch.where(pad, 0.0, layer_in)
            held = torch.cat([layer_in, pad.to(x.dtype)], -1)  # (B, T, F + 1)
            outs = []
            for direction in range(enc.num_directions):
                seq = _roll(held, to_right) if direction == 0 else held.flip(1)
                out, h, c = self._direction(seq, layer, direction)
                outs.append(_roll(out, to_left) if direction == 0 else out.flip(1))
                h_n.append(h)
                c_n.append(c)
            layer_in = torch.cat(outs, -1)  # (B, T, D*H), exactly zero at pads: the state there is held at 0
        h = torch.cat(h_n)  # (L*D, B, H)
        out = layer_in if self.t == x.shape[1] else F.pad(layer_in, (0, 0, 0, x.shape[1] - self.t))
        return out, ((h, torch.cat(c_n)) if enc.cell == "lstm" else h)

    def _direction(self, seq: Tensor, layer: int, direction: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """One layer and direction over the pads-first batch (B, T, F + 1) -> outputs (B, T, H), h and c (1, B, H)."""
        rnn = self.enc.rnn
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        w_ih, w_hh, b_ih, b_hh = (getattr(rnn, name + suffix) for name in names)
        hold = w_ih.new_zeros(w_ih.shape[0], 1)
        hidden = rnn.hidden_size
        zeros = seq.new_zeros(1, seq.shape[0], hidden)
        if self.enc.cell == "lstm":  # gate rows i, f, g, o
            hold[:hidden] = -_HOLD
            params = [torch.cat([w_ih, hold], 1), w_hh, b_ih, b_hh]
            out, h, c = torch.lstm(seq, (zeros, zeros), params, True, 1, 0.0, rnn.training, False, True)
            return out, h, c
        hold[hidden : 2 * hidden] = _HOLD  # gate rows r, z, n
        params = [torch.cat([w_ih, hold], 1), w_hh, b_ih, b_hh]
        out, h = torch.gru(seq, zeros, params, True, 1, 0.0, rnn.training, False, True)
        return out, h, None


def _roll(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, F) with row b's steps taken at index[b] (B, T): a per-row roll."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
