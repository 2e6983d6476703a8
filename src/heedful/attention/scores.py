"""Score modules: thin parameter holders around the pure score functions.

Every score module shares one signature, ``forward(q, k) -> (..., Tq, Tk)``, and splits into
``prepare_keys(k)`` (work that depends only on the keys) and ``score(q, prepared)``, so a decoder
projects its encoder memory once per sequence rather than once per step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from heedful.attention import functional as AF
from heedful.errors import InputError


class Score(nn.Module):
    """Base class: ``forward(q, k) == score(q, prepare_keys(k))``."""

    def prepare_keys(self, k: Tensor) -> Tensor:
        return k

    def score(self, q: Tensor, prepared: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, q: Tensor, k: Tensor) -> Tensor:
        return self.score(q, self.prepare_keys(k))


class DotScore(Score):
    def score(self, q: Tensor, prepared: Tensor) -> Tensor:
        return AF.dot_scores(q, prepared)


class ScaledDotScore(Score):
    def score(self, q: Tensor, prepared: Tensor) -> Tensor:
        return AF.scaled_dot_scores(q, prepared)


class CosineScore(Score):
    """Cosine similarity times a learnable temperature (initialised at ``scale``)."""

    def __init__(self, scale: float = 5.0):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def prepare_keys(self, k: Tensor) -> Tensor:
        return k / k.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    def score(self, q: Tensor, prepared: Tensor) -> Tensor:
        return AF.cosine_scores(q, prepared, scale=self.log_scale.exp())


class GeneralScore(Score):
    """Luong "general": q W kᵀ, prepared as k Wᵀ so each step is one matmul."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim
        self.weight = nn.Parameter(torch.empty(query_dim, key_dim))
        nn.init.xavier_uniform_(self.weight)

    def prepare_keys(self, k: Tensor) -> Tensor:
        AF.check_last_dim("keys", k, self.key_dim)
        return k @ self.weight.t()  # (..., Tk, Dq)

    def score(self, q: Tensor, prepared: Tensor) -> Tensor:
        AF.check_last_dim("queries", q, self.query_dim)
        return AF.dot_scores(q, prepared)


class AdditiveScore(Score):
    """Bahdanau: vᵀ tanh(W_q q + W_k k + b)."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int | None = None):
        super().__init__()
        attn_dim = attn_dim or key_dim
        self.query_dim, self.key_dim = query_dim, key_dim
        self.w_q = nn.Linear(query_dim, attn_dim, bias=True)
        self.w_k = nn.Linear(key_dim, attn_dim, bias=False)
        self.v = nn.Parameter(torch.empty(attn_dim).uniform_(-1 / math.sqrt(attn_dim), 1 / math.sqrt(attn_dim)))

    def prepare_keys(self, k: Tensor) -> Tensor:
        AF.check_last_dim("keys", k, self.key_dim)
        return self.w_k(k)  # (..., Tk, A)

    def score(self, q: Tensor, prepared: Tensor) -> Tensor:
        AF.check_last_dim("queries", q, self.query_dim)
        return AF.additive_from_projected(self.w_q(q), prepared, self.v)


class ConcatScore(AdditiveScore):
    """Luong "concat": vᵀ tanh(W [q; k]). Equal to additive with W split in two and no bias;
    kept as its own name because Luong et al. (2015) define it so."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int | None = None):
        super().__init__(query_dim, key_dim, attn_dim)
        self.w_q = nn.Linear(query_dim, self.w_q.out_features, bias=False)

    @property
    def weight(self) -> Tensor:
        """W of vᵀ tanh(W [q; k]), shape (A, Dq + Dk)."""
        return torch.cat([self.w_q.weight, self.w_k.weight], dim=1)


SCORES: dict[str, type[Score]] = {
    "dot": DotScore,
    "scaled_dot": ScaledDotScore,
    "general": GeneralScore,
    "concat": ConcatScore,
    "additive": AdditiveScore,
    "cosine": CosineScore,
}
# Names used in the literature for the same functions.
ALIASES = {
    "bahdanau": "additive",
    "luong_dot": "dot",
    "luong_general": "general",
    "luong_concat": "concat",
    "bilinear": "general",
    "scaled": "scaled_dot",
}


def make_score(name: str, query_dim: int, key_dim: int, attn_dim: int | None = None) -> Score:
    """Build a score module by name (``dot``, ``scaled_dot``, ``general``, ``concat``, ``additive``,
    ``cosine`` or an alias such as ``bahdanau`` / ``luong_general``)."""
    canonical = ALIASES.get(name, name)
    if canonical not in SCORES:
        known = ", ".join([*SCORES, *ALIASES])
        raise InputError(f"unknown attention score {name!r}; expected one of: {known}")
    if canonical in ("dot", "scaled_dot", "cosine") and query_dim != key_dim:
        raise InputError(f"score {name!r} needs query_dim == key_dim, got {query_dim} and {key_dim}")
    if canonical in ("general",):
        return GeneralScore(query_dim, key_dim)
    if canonical in ("concat", "additive"):
        return SCORES[canonical](query_dim, key_dim, attn_dim)
    return SCORES[canonical]()


class Attention(nn.Module):
    """Single-head attention with any score: ``forward(q, k, v, key_mask) -> (context, weights)``.

    q: (B, Tq, Dq) or (B, Dq) for one decoder step; k: (B, Tk, Dk); v: (B, Tk, Dv) (defaults to k);
    key_mask: (B, Tk) bool, True at valid keys. Returns context (B, Tq, Dv) [or (B, Dv)] and
    weights (B, Tq, Tk) [or (B, Tk)].
    """

    def __init__(self, score: str, query_dim: int, key_dim: int, attn_dim: int | None = None):
        super().__init__()
        self.score_name = score
        self.scorer = make_score(score, query_dim, key_dim, attn_dim)

    def prepare_keys(self, k: Tensor) -> Tensor:
        return self.scorer.prepare_keys(k)

    def forward(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor | None = None,
        key_mask: Tensor | None = None,
        prepared_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        single = q.dim() == 2
        q = q.unsqueeze(1) if single else q
        v = k if v is None else v
        prepared = self.prepare_keys(k) if prepared_keys is None else prepared_keys
        scores = self.scorer.score(q, prepared)  # (B, Tq, Tk)
        mask = None if key_mask is None else key_mask.unsqueeze(1)
        context, weights = AF.attend(q, k, v, mask=mask, scores=scores)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)
