"""Multi-head attention and a small self-attention encoder with positional encodings.

Projection weights are plain parameters, not ``nn.Linear`` modules called ``q_proj``/``k_proj``...:
these blocks get wrapped around Hugging Face LMs, and PEFT's LoRA targets Linear modules by those names.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from heedful.attention import functional as AF
from heedful.attention.positional import (
    POSITIONAL,
    LearnedPositionalEncoding,
    RelativePositionBias,
    SinusoidalPositionalEncoding,
)
from heedful.errors import InputError


def check_key_mask(key_mask: Tensor | None, batch: int, tk: int) -> None:
    if key_mask is None:
        return
    if key_mask.dtype != torch.bool:
        raise InputError(f"key_mask must be bool (True = valid key), got {key_mask.dtype}")
    if tuple(key_mask.shape) != (batch, tk):
        raise InputError(f"key_mask: expected shape {(batch, tk)}, got {tuple(key_mask.shape)}")


class MultiHeadAttention(nn.Module):
    """Multi-head scaled-dot attention, batch first.

    query (B, Tq, E); key (B, Tk, kdim) and value (B, Tk, vdim), both defaulting to ``query``
    (self-attention); key_mask (B, Tk) bool, True = valid; attn_mask (Tq, Tk) or (B, Tq, Tk) bool,
    True = allowed; position_bias (H, Tq, Tk) added to the scores.
    Returns (output (B, Tq, E), weights (B, H, Tq, Tk) if ``need_weights`` else None).
    Without weights and without a position bias the fused ``F.scaled_dot_product_attention`` runs.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        kdim: int | None = None,
        vdim: int | None = None,
    ):
        super().__init__()
        if embed_dim % num_heads:
            raise InputError(f"embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.head_dim = embed_dim // num_heads
        self.q_weight = nn.Parameter(torch.empty(embed_dim, embed_dim))
        self.k_weight = nn.Parameter(torch.empty(embed_dim, self.kdim))
        self.v_weight = nn.Parameter(torch.empty(embed_dim, self.vdim))
        self.in_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
        self.attn_out = nn.Linear(embed_dim, embed_dim, bias=bias)
        for w in (self.q_weight, self.k_weight, self.v_weight):
            nn.init.xavier_uniform_(w)
        if bias:
            nn.init.zeros_(self.attn_out.bias)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        bq, bk, bv = (None, None, None) if self.in_bias is None else self.in_bias.chunk(3)
        if key is query and value is query and self.kdim == self.vdim == self.embed_dim:
            # self-attention: one fused matmul, as nn.MultiheadAttention does
            weight = torch.cat([self.q_weight, self.k_weight, self.v_weight])
            return F.linear(query, weight, self.in_bias).chunk(3, dim=-1)
        return (
            F.linear(query, self.q_weight, bq),
            F.linear(key, self.k_weight, bk),
            F.linear(value, self.v_weight, bv),
        )

    def _split(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, Dh)

    def forward(
        self,
        query: Tensor,
        key: Tensor | None = None,
        value: Tensor | None = None,
        key_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        position_bias: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value)
        check_key_mask(key_mask, key.shape[0], key.shape[1])
        q, k, v = (self._split(x) for x in self._project(query, key, value))
        mask = self._mask(key_mask, attn_mask, is_causal, q.shape[2], k.shape[2], query.device)
        p = self.dropout if self.training else 0.0
        scores = None
        if need_weights or position_bias is not None:
            scores = AF.scaled_dot_scores(q, k)
            scores = scores if position_bias is None else scores + position_bias
        out, weights = AF.attend(q, k, v, mask=mask, scores=scores, dropout_p=p, need_weights=need_weights)
        b, _, tq, _ = out.shape
        out = self.attn_out(out.transpose(1, 2).reshape(b, tq, self.embed_dim))
        return out, (weights if need_weights else None)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor) -> None:
        for name, x, dim in (
            ("query", query, self.embed_dim),
            ("key", key, self.kdim),
            ("value", value, self.vdim),
        ):
            if x.dim() != 3 or x.shape[-1] != dim:
                raise InputError(f"{name}: expected shape (B, T, {dim}), got {tuple(x.shape)}")
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise InputError(
                f"batch/steps mismatch: query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
            )

    @staticmethod
    def _mask(key_mask, attn_mask, is_causal, tq, tk, device) -> Tensor | None:
        km = None if key_mask is None else AF.key_mask_to_attn_mask(key_mask)  # (B, 1, 1, Tk)
        am = None
        if attn_mask is not None:
            if attn_mask.dtype != torch.bool or attn_mask.shape[-2:] != (tq, tk):
                raise InputError(
                    f"attn_mask: expected bool (..., {tq}, {tk}), got {attn_mask.dtype} {tuple(attn_mask.shape)}"
                )
            am = attn_mask if attn_mask.dim() == 2 else attn_mask.unsqueeze(1)
        cm = AF.causal_mask(tq, tk, device) if is_causal else None
        return AF.combine_masks(km, am, cm)


def feed_forward(dim: int, mult: int = 4, dropout: float = 0.0) -> nn.Sequential:
    """Pre-norm GELU MLP, the Transformer's position-wise block."""
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, mult * dim),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(mult * dim, dim),
    )


class SelfAttentionLayer(nn.Module):
    """Pre-norm Transformer layer: x + MHA(LN(x)), then x + FFN(x)."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, ff_mult: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, dropout=dropout)
        self.ff = feed_forward(dim, ff_mult, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, key_mask=None, is_causal=False, need_weights=False, position_bias=None):
        h = self.norm(x)
        a, w = self.attn(
            h, key_mask=key_mask, is_causal=is_causal, need_weights=need_weights, position_bias=position_bias
        )
        x = x + self.drop(a)
        return x + self.drop(self.ff(x)), w


class SelfAttentionEncoder(nn.Module):
    """Stack of self-attention layers over (B, T, dim) with a positional encoding.

    positional: ``sinusoidal`` or ``learned`` (added once to the input), ``relative`` (a per-head
    bias on the scores, shared by all layers as in T5), or ``none``.
    Returns (output (B, T, dim), per-layer weights [(B, H, T, T)] or None).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        num_layers: int = 1,
        positional: str = "sinusoidal",
        max_len: int = 4096,
        causal: bool = False,
        dropout: float = 0.0,
        max_distance: int = 128,
    ):
        super().__init__()
        if positional not in POSITIONAL:
            raise InputError(f"unknown positional encoding {positional!r}; expected one of {', '.join(POSITIONAL)}")
        self.positional, self.causal = positional, causal
        self.absolute = None
        self.relative = None
        if positional == "sinusoidal":
            self.absolute = SinusoidalPositionalEncoding(dim, max_len)
        elif positional == "learned":
            self.absolute = LearnedPositionalEncoding(dim, max_len)
        elif positional == "relative":
            self.relative = RelativePositionBias(num_heads, max_distance)
        self.layers = nn.ModuleList(SelfAttentionLayer(dim, num_heads, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, key_mask: Tensor | None = None, need_weights: bool = False):
        if self.absolute is not None:
            x = self.absolute(x)
        bias = None if self.relative is None else self.relative(x.shape[1], x.shape[1])
        all_weights = []
        for layer in self.layers:
            x, w = layer(x, key_mask=key_mask, is_causal=self.causal, need_weights=need_weights, position_bias=bias)
            all_weights.append(w)
        x = self.norm(x)
        if key_mask is not None:
            x = x.masked_fill(~key_mask.unsqueeze(-1), 0.0)  # pads carry no information downstream
        return x, (all_weights if need_weights else None)
