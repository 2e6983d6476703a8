"""Attention pooling over time: the seed's ``AttentionLayer``, done with masks and returning weights."""

from __future__ import annotations

from torch import Tensor, nn

from heedful.attention import functional as AF
from heedful.errors import InputError


class AttentionPooling(nn.Module):
    """context = Σ_t a_t h_t with a = softmax_t(uᵀ tanh(W h_t + b)) over valid steps.

    h: (B, T, D), key_mask: (B, T) bool (True = valid). Returns (context (B, D), weights (B, T)).
    The seed's Keras layer adds a per-time-step bias of shape (T, 1), which ties the layer to one
    sequence length and lets it favour absolute positions; we use a shared bias instead.
    """

    def __init__(self, input_dim: int, attn_dim: int | None = None):
        super().__init__()
        self.input_dim = input_dim
        self.proj = nn.Linear(input_dim, attn_dim or input_dim)
        self.context = nn.Linear(attn_dim or input_dim, 1, bias=False)  # the learned query u

    def forward(self, h: Tensor, key_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if h.dim() != 3:
            raise InputError(f"attention pooling: expected (B, T, {self.input_dim}), got {tuple(h.shape)}")
        AF.check_last_dim("attention pooling input", h, self.input_dim)
        scores = self.context(self.proj(h).tanh()).squeeze(-1)  # (B, T)
        weights = AF.masked_softmax(scores, key_mask)
        return (weights.unsqueeze(1) @ h).squeeze(1), weights
