"""Task heads over an encoder, and ``SequenceModel`` which joins the two.

- many-to-one: one prediction per sequence (classification logits or regression values);
- many-to-many: one prediction per valid time step (per-step labels);
- attention pooling: many-to-one through learned attention over time, returning the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from heedful.attention.pooling import AttentionPooling
from heedful.sequence.encoder import BiRNNEncoder, EncoderOutput, check_choice

POOLINGS = ("last", "mean", "max", "attention")


def masked_mean(h: Tensor, mask: Tensor) -> Tensor:
    """(B, T, D), (B, T) -> (B, D) mean over valid steps."""
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


def masked_max(h: Tensor, mask: Tensor) -> Tensor:
    return h.masked_fill(~mask.unsqueeze(-1), torch.finfo(h.dtype).min).amax(1)


class ManyToOneHead(nn.Module):
    """Pools the encoder over time, then an MLP to ``out_dim``.

    pooling: ``last`` (final forward state at the last valid step + final backward state at step 0),
    ``mean`` / ``max`` over valid steps, or ``attention`` (learned weights, returned).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        pooling: str = "last",
        hidden: int | None = None,
        dropout: float = 0.0,
        summary_dim: int | None = None,
    ):
        super().__init__()
        check_choice("pooling", pooling, POOLINGS)
        self.pooling = pooling
        pooled_dim = summary_dim if pooling == "last" and summary_dim else in_dim
        self.attention = AttentionPooling(in_dim) if pooling == "attention" else None
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(pooled_dim, hidden), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or pooled_dim, out_dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, enc: EncoderOutput) -> tuple[Tensor, Tensor | None]:
        """Returns (prediction (B, out_dim), attention weights (B, T) or None)."""
        weights = None
        if self.pooling == "last":
            pooled = enc.summary
        elif self.pooling == "mean":
            pooled = masked_mean(enc.outputs, enc.mask)
        elif self.pooling == "max":
            pooled = masked_max(enc.outputs, enc.mask)
        else:
            pooled, weights = self.attention(enc.outputs, enc.mask)
        return self.mlp(pooled), weights


class ManyToManyHead(nn.Module):
    """Per-step prediction (B, T, out_dim); padded steps are zero."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))

    def forward(self, enc: EncoderOutput) -> tuple[Tensor, None]:
        return self.proj(enc.outputs).masked_fill(~enc.mask.unsqueeze(-1), 0.0), None


@dataclass
class SequenceOutput:
    prediction: Tensor  # (B, out_dim) or (B, T, out_dim)
    attention: Tensor | None  # (B, T) for attention pooling
    mask: Tensor  # (B, T)


class SequenceModel(nn.Module):
    """Encoder + head. ``head``: ``many_to_one`` (with a pooling) or ``many_to_many``."""

    def __init__(self, encoder: BiRNNEncoder, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    @classmethod
    def build(
        cls,
        input_size: int,
        out_dim: int,
        *,
        head: str = "many_to_one",
        pooling: str = "attention",
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        bidirectional: bool = True,
        merge: str = "concat",
        dropout: float = 0.0,
        head_hidden: int | None = None,
    ) -> SequenceModel:
        check_choice("head", head, ("many_to_one", "many_to_many"))
        encoder = BiRNNEncoder(input_size, hidden_size, num_layers, cell, bidirectional, dropout, merge)
        if head == "many_to_many":
            return cls(encoder, ManyToManyHead(encoder.output_size, out_dim, dropout))
        summary_dim = hidden_size * encoder.num_directions
        return cls(encoder, ManyToOneHead(encoder.output_size, out_dim, pooling, head_hidden, dropout, summary_dim))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> SequenceOutput:
        enc = self.encoder(x, lengths)
        prediction, attention = self.head(enc)
        return SequenceOutput(prediction, attention, enc.mask)
