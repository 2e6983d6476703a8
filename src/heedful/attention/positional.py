"""Positional encodings: sinusoidal and learned (added to inputs), relative (a bias on scores)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from heedful.errors import InputError


def sinusoidal_table(max_len: int, dim: int) -> Tensor:
    """(max_len, dim) table of Vaswani et al.: sin on even, cos on odd channels."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table


def _check_positions(x: Tensor, offset: int, max_len: int, dim: int) -> None:
    if x.dim() != 3 or x.shape[-1] != dim:
        raise InputError(f"positional encoding: expected input (B, T, {dim}), got {tuple(x.shape)}")
    if offset + x.shape[1] > max_len:
        raise InputError(f"positional encoding: sequence needs {offset + x.shape[1]} positions, max_len is {max_len}")


class SinusoidalPositionalEncoding(nn.Module):
    """x + PE[offset : offset + T]. Fixed, so it extrapolates up to ``max_len`` without training."""

    def __init__(self, dim: int, max_len: int = 4096):
        super().__init__()
        self.dim, self.max_len = dim, max_len
        self.register_buffer("table", sinusoidal_table(max_len, dim), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_positions(x, offset, self.max_len, self.dim)
        return x + self.table[offset : offset + x.shape[1]].to(x.dtype)


class LearnedPositionalEncoding(nn.Module):
    """x + E[offset : offset + T] with a trained embedding per absolute position."""

    def __init__(self, dim: int, max_len: int = 1024):
        super().__init__()
        self.dim, self.max_len = dim, max_len
        self.embedding = nn.Embedding(max_len, dim)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        _check_positions(x, offset, self.max_len, self.dim)
        return x + self.embedding.weight[offset : offset + x.shape[1]]


class RelativePositionBias(nn.Module):
    """Learned per-head bias b[h, clip(j - i)] added to attention scores (Shaw et al. 2018, in the
    scalar-bias form of T5). Distances beyond ``max_distance`` share the edge bucket, so any length
    works."""

    def __init__(self, num_heads: int, max_distance: int = 128):
        super().__init__()
        self.num_heads, self.max_distance = num_heads, max_distance
        self.bias = nn.Embedding(2 * max_distance + 1, num_heads)
        nn.init.zeros_(self.bias.weight)

    def forward(self, tq: int, tk: int, offset: int | None = None) -> Tensor:
        """(H, Tq, Tk) bias; ``offset`` is the position of the first query (default Tk - Tq: the
        queries are the last Tq keys, as with a cache)."""
        offset = tk - tq if offset is None else offset
        device = self.bias.weight.device
        qpos = torch.arange(offset, offset + tq, device=device)
        kpos = torch.arange(tk, device=device)
        rel = (kpos[None, :] - qpos[:, None]).clamp(-self.max_distance, self.max_distance) + self.max_distance
        return self.bias(rel).permute(2, 0, 1)


POSITIONAL = ("sinusoidal", "learned", "relative", "none")
