"""Gated cross-attention (Flamingo / IDEFICS style) over a set of condition tokens.

y = x + tanh(α)·MHA(LN(x), c, c) ; out = y + tanh(β)·FFN(LN(y)), with α = β = 0 at init, so a
freshly inserted block returns its input exactly and a frozen host model is undisturbed until
training opens the gates. Several condition tokens are expected: with a single key the softmax
weight is always 1, the block degenerates to adding a projected vector and its query/key
projections receive no gradient (one of the seed draft's flaws, see docs/attention.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from heedful.attention.multihead import MultiHeadAttention, feed_forward
from heedful.errors import InputError


class TanhGate(nn.Module):
    """x · tanh(g) with a scalar g, zero at init."""

    def __init__(self, init: float = 0.0):
        super().__init__()
        self.gate = nn.Parameter(torch.tensor(float(init)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate.tanh()


def to_residual_scale(update: Tensor, x: Tensor, eps: float = 1e-6) -> Tensor:
    """``update`` rescaled per token to the root-mean-square of the residual ``x`` (a scale, not a path: detached).

    A host LM's residual stream can be far larger than a fresh block's output (Gemma-3-270M: RMS 550-910 at layers
    12-15 against 0.13 for the cross-attention), so even a fully open tanh gate would add 0.02 % of it. Rescaled,
    tanh(gate) *is* the size of the update relative to the residual."""
    scale = x.detach().float().pow(2).mean(-1, keepdim=True).sqrt()
    norm = update.float().pow(2).mean(-1, keepdim=True).add(eps).sqrt()
    return (update * (scale / norm)).to(update.dtype)


class GatedCrossAttention(nn.Module):
    """x (B, T, dim) attends to condition tokens c (B, N, cond_dim) with key_mask (B, N) (True = valid).

    Returns (output (B, T, dim), weights (B, H, T, N) if ``need_weights`` else None). A sample whose
    condition tokens are all masked gets nothing from the attention branch (the gated FFN still
    applies, as in IDEFICS), so with the FFN gate closed it passes through unchanged. ``residual_scale``:
    each branch's output is rescaled to the residual's size before its gate (``to_residual_scale``).
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        num_heads: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.0,
        gate_init: float = 0.0,
        residual_scale: bool = False,
    ):
        super().__init__()
        self.dim, self.cond_dim, self.residual_scale = dim, cond_dim, residual_scale
        self.norm = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, dropout=dropout, kdim=cond_dim, vdim=cond_dim)
        self.attn_gate = TanhGate(gate_init)
        self.ff = feed_forward(dim, ff_mult, dropout)
        self.ff_gate = TanhGate(gate_init)

    def forward(self, x: Tensor, cond: Tensor, key_mask: Tensor | None = None, need_weights: bool = False):
        if cond.dim() != 3 or cond.shape[-1] != self.cond_dim or cond.shape[0] != x.shape[0]:
            raise InputError(f"condition: expected ({x.shape[0]}, N, {self.cond_dim}), got {tuple(cond.shape)}")
        attended, weights = self.attn(self.norm(x), cond, cond, key_mask=key_mask, need_weights=need_weights)
        if key_mask is not None:  # no valid token: drop the output projection's bias too
            attended = attended.masked_fill(~key_mask.any(-1)[:, None, None], 0.0)
        attended = attended.to(x.dtype)
        if self.residual_scale:
            attended = to_residual_scale(attended, x)
        x = x + self.attn_gate(attended)
        ff = self.ff(x)
        x = x + self.ff_gate(to_residual_scale(ff, x) if self.residual_scale else ff)
        return x, weights
