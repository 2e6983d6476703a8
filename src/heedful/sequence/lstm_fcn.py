"""LSTM-FCN (Karim, Majumdar, Darabi & Chen 2017): an LSTM branch beside a fully convolutional branch, their
summaries concatenated into one classifier.

- convolutional branch: three blocks of Conv1d (128, 256, 128 filters; kernels 8, 5, 3; "same" padding), batch
  norm and ReLU, then global average pooling over time;
- LSTM branch: a unidirectional LSTM whose final state (at each sequence's own last valid step) is kept, then
  dropout;
- head: the two summaries concatenated, one linear layer.

One difference from the paper: Karim et al. feed the LSTM the transposed series ("dimension shuffle": variables as
steps), which needs one fixed length; here the LSTM reads the time steps, so windows of any length and padded
batches work (Rieth et al.'s TEP comparison, our anchor, uses multivariate windows the same way).

Padded batches give the same outputs as each sequence alone: pads are zeroed before every convolution (so a valid
step near a sequence's end sees zeros there, as the convolution's own padding would give it), batch statistics in
training are taken over valid steps only (``MaskedBatchNorm1d``), pooling averages valid steps only, and the LSTM
is ``BiRNNEncoder``'s exact variable-length run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from heedful.sequence.encoder import BiRNNEncoder
from heedful.sequence.heads import SequenceOutput, masked_mean

FILTERS = (128, 256, 128)
KERNELS = (8, 5, 3)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over (B, C, T) whose training statistics skip padded steps (``mask`` (B, T) False).
    In evaluation it is the plain per-step affine map with the running statistics."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if not self.training or mask is None or bool(mask.all()):
            return super().forward(x)
        m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        n = m.sum()
        mean = (x * m).sum((0, 2)) / n  # (C,)
        var = ((x - mean[:, None]) ** 2 * m).sum((0, 2)) / n  # biased, as batch norm normalises with
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * n / (n - 1).clamp_min(1.0), self.momentum)  # unbiased, as nn.BatchNorm1d
        y = (x - mean[:, None]) / torch.sqrt(var[:, None] + self.eps)
        return y * self.weight[:, None] + self.bias[:, None]


class ConvBlock(nn.Module):
    """Conv1d ("same" padding) -> masked batch norm -> ReLU; pads zeroed on the way in and out."""

    def __init__(self, in_channels: int, filters: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, kernel)
        self.pad = ((kernel - 1) // 2, kernel // 2)  # "same", as Keras pads an even kernel: one more on the right
        self.norm = MaskedBatchNorm1d(filters)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        keep = mask.unsqueeze(1)  # (B, 1, T)
        x = F.pad(torch.where(keep, x, 0.0), self.pad)  # NaN / inf in pads never enter
        h = self.norm(self.conv(x), mask)  # (B, F, T)
        return torch.where(keep, torch.relu(h), 0.0)


class LSTMFCN(nn.Module):
    """x (B, T, input_size), lengths (B,) or None -> ``SequenceOutput`` with logits (B, out_dim), no attention."""

    def __init__(
        self,
        input_size: int,
        out_dim: int,
        hidden_size: int = 64,
        dropout: float = 0.0,
        filters: tuple[int, ...] = FILTERS,
        kernels: tuple[int, ...] = KERNELS,
    ):
        super().__init__()
        self.lstm = BiRNNEncoder(input_size, hidden_size, cell="lstm", bidirectional=False)
        channels = (input_size, *filters)
        self.blocks = nn.ModuleList(ConvBlock(c, f, k) for c, f, k in zip(channels[:-1], filters, kernels, strict=True))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size + filters[-1], out_dim)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> SequenceOutput:
        enc = self.lstm(x, lengths)  # exact final state per sequence; enc.mask (B, T)
        mask = enc.mask
        h = x.transpose(1, 2)  # (B, C, T)
        for block in self.blocks:
            h = block(h, mask)  # (B, F, T), zero at pads
        pooled = masked_mean(h.transpose(1, 2), mask)  # (B, F_last): global average over valid steps
        summary = torch.cat([self.dropout(enc.summary), pooled], -1)  # (B, H + F_last)
        return SequenceOutput(self.out(summary), None, mask)
