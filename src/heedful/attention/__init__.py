"""Attention core shared by both tracks: pure score/mask functions and thin modules."""

from heedful.attention.functional import (
    additive_scores,
    attend,
    causal_mask,
    concat_scores,
    cosine_scores,
    dot_scores,
    general_scores,
    masked_softmax,
    padding_mask,
    scaled_dot_scores,
)
from heedful.attention.gated import GatedCrossAttention, TanhGate
from heedful.attention.multihead import MultiHeadAttention, SelfAttentionEncoder, SelfAttentionLayer
from heedful.attention.pooling import AttentionPooling
from heedful.attention.positional import (
    LearnedPositionalEncoding,
    RelativePositionBias,
    SinusoidalPositionalEncoding,
)
from heedful.attention.scores import Attention, make_score

__all__ = [
    "Attention",
    "AttentionPooling",
    "GatedCrossAttention",
    "LearnedPositionalEncoding",
    "MultiHeadAttention",
    "RelativePositionBias",
    "SelfAttentionEncoder",
    "SelfAttentionLayer",
    "SinusoidalPositionalEncoding",
    "TanhGate",
    "additive_scores",
    "attend",
    "causal_mask",
    "concat_scores",
    "cosine_scores",
    "dot_scores",
    "general_scores",
    "make_score",
    "masked_softmax",
    "padding_mask",
    "scaled_dot_scores",
]
