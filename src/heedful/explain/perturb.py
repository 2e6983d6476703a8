"""Removing time steps: which ones (the top ``fraction`` of a ranking) and how (the training mean, 0 when scaled).

"Remove" here means *replace by the training mean*: inputs are standardised on the training split, so a removed
step is a step of zeros. The sequence keeps its length and its time axis; padded steps are never ranked or touched.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

BASELINE = 0.0  # the training mean in scaled units: what a removed step becomes


def valid_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B,) lengths -> (B, T) True on valid steps."""
    return torch.arange(steps)[None, :] < lengths[:, None]


def counts(lengths: Tensor, fraction: float) -> Tensor:
    """Steps removed per sample: ceil(fraction * length), at least one (1e-9 absorbs float error: 0.1 * 40 = 4)."""
    return torch.ceil(fraction * lengths.double() - 1e-9).long().clamp(min=1)


def top_k_mask(scores: Tensor, lengths: Tensor, fraction: float) -> Tensor:
    """(B, T) scores -> (B, T) True on the ``counts(lengths, fraction)`` highest-scored valid steps. Ties are broken
    in one fixed random order of the steps (the same for every ranking), not in favour of the earliest steps."""
    b, t = scores.shape
    shuffle = torch.randperm(t, generator=torch.Generator().manual_seed(t))  # tie order
    masked = scores.masked_fill(~valid_mask(lengths, t), -math.inf)[:, shuffle]
    ranked = shuffle[masked.argsort(dim=1, descending=True, stable=True)]  # step ids, best first
    rank = torch.empty_like(ranked)
    rank.scatter_(1, ranked, torch.arange(t).expand(b, t).contiguous())  # rank[b, step]: 0 = most important
    return rank < counts(lengths, fraction)[:, None]


def delete(x: Tensor, mask: Tensor) -> Tensor:
    """The input with the masked steps removed (set to the baseline). x (B, T, C), mask (B, T)."""
    return x.masked_fill(mask[..., None], BASELINE)


def keep_only(x: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
    """The input with every valid step *outside* the mask removed: what sufficiency feeds the model."""
    return x.masked_fill((valid_mask(lengths, x.shape[1]) & ~mask)[..., None], BASELINE)


def soft_keep_mask(attention: Tensor, lengths: Tensor, fraction: float) -> Tensor:
    """A differentiable version of "keep only the top ``fraction`` by attention", for training.

    (B, T) attention -> (B, T) mask in [0, 1]: 1 on the top ``counts(lengths, fraction)`` valid steps, a / a_k below
    them (a_k, the k-th largest weight, detached), 0 on padding. Multiplying scaled inputs by it moves the other
    steps toward the training mean in proportion to how little attention they get, and its gradient reaches the
    attention weights."""
    t = attention.shape[1]
    valid = valid_mask(lengths, t)
    ranked = attention.detach().masked_fill(~valid, -math.inf).sort(dim=1, descending=True).values
    kth = ranked.gather(1, (counts(lengths, fraction) - 1)[:, None]).clamp_min(1e-12)  # (B, 1)
    return (attention / kth).clamp(max=1.0) * valid
