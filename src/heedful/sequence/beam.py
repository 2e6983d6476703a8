"""Batched beam search: all B x K hypotheses advance in one decoder call per step.

A finished hypothesis stays in its beam and may only continue with ``pad`` at zero cost, so the
search stays a fixed (B, K) tensor program with no per-sample Python bookkeeping. Candidates are
ranked by the length-normalised score s / lp(len), lp = ((5 + len) / 6) ** alpha (Wu et al. 2016);
alpha = 0 ranks by the raw log-probability. Beam size 1 reproduces greedy decoding exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from heedful.errors import InputError
from heedful.sequence.decoding import mask_after_length


@dataclass
class BeamResult:
    tokens: Tensor  # (B, N, T) ids, pad after EOS, best first
    scores: Tensor  # (B, N) summed log-probabilities
    normalized: Tensor  # (B, N) scores / length penalty (the ranking key)
    lengths: Tensor  # (B, N) generated steps, EOS included
    attention: Tensor | None  # (B, N, T, S)


def length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    return ((5.0 + lengths.to(torch.float32)) / 6.0) ** alpha


@dataclass
class _Beams:
    """Search state; every tensor is (B, K) or (B*K, ...)."""

    scores: Tensor  # (B, K)
    lengths: Tensor  # (B, K)
    finished: Tensor  # (B, K)
    tokens: Tensor  # (B*K, t)
    attention: Tensor | None  # (B*K, t, S)


@torch.no_grad()
def beam_search(
    model,
    src: Tensor,
    src_lengths: Tensor | None = None,
    beam_size: int = 5,
    max_len: int = 50,
    length_penalty_alpha: float = 0.0,
    n_best: int = 1,
    return_attention: bool = False,
) -> BeamResult:
    """Decode a batch with beams of ``beam_size``; return the ``n_best`` hypotheses per input.

    ``model`` follows the protocol of ``heedful.sequence.decoding`` and must produce tokens."""
    cfg = model.config
    if not cfg.tokens_out:
        raise InputError("beam search needs a token-output model; use greedy_decode for continuous outputs")
    if beam_size < 1 or not 1 <= n_best <= beam_size or max_len < 1:
        raise InputError(
            f"need beam_size >= 1, 1 <= n_best <= beam_size, max_len >= 1; "
            f"got beam_size={beam_size}, n_best={n_best}, max_len={max_len}"
        )
    b, k = src.shape[0], beam_size
    state = model.encode(src, src_lengths).select(torch.arange(b, device=src.device).repeat_interleave(k))
    beams = _initial_beams(b, k, src.device)
    prev = model.start_input(b * k, src.device)
    for _ in range(max_len):
        logits, state, weights = model.decoder_step(prev, state)
        # The global top K of the K*V candidates lie among each beam's own top K: select from K*C only.
        c = min(k, logits.shape[-1])
        cand_logp, cand_tok = logits.log_softmax(-1).topk(c, dim=-1)
        cand_logp, cand_tok = _continuations(
            cand_logp.view(b, k, c), cand_tok.view(b, k, c), beams.finished, cfg.pad_id
        )
        choice = _select(beams, cand_logp, k, length_penalty_alpha)  # (B, K) into K*C
        origin = choice // c
        tok, step_logp = cand_tok.view(b, -1).gather(1, choice), cand_logp.view(b, -1).gather(1, choice)
        flat = (origin + torch.arange(b, device=src.device).unsqueeze(1) * k).view(-1)
        state = state.reorder(flat)
        beams = _advance(beams, flat, origin, tok, step_logp, weights if return_attention else None, cfg.eos_id)
        prev = tok.view(-1)
        if bool(beams.finished.all()):
            break
    return _finalize(beams, b, k, n_best, length_penalty_alpha)


def _initial_beams(b: int, k: int, device) -> _Beams:
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # only the first beam is live at step 0, so the K beams start distinct
    zeros = torch.zeros(b, k, dtype=torch.long, device=device)
    return _Beams(scores, zeros, zeros.bool(), torch.empty(b * k, 0, dtype=torch.long, device=device), None)


def _continuations(logp: Tensor, tok: Tensor, finished: Tensor, pad_id: int) -> tuple[Tensor, Tensor]:
    """Finished beams may only add ``pad`` at log-probability 0. logp, tok: (B, K, C) candidates."""
    if not bool(finished.any()):
        return logp, tok
    frozen = torch.full_like(logp[0, 0], float("-inf"))
    frozen[0] = 0.0
    done = finished.unsqueeze(-1)
    return torch.where(done, frozen, logp), tok.masked_fill(done, pad_id)


def _select(beams: _Beams, logp: Tensor, k: int, alpha: float) -> Tensor:
    """Top-K of the B x (K*C) candidates by normalised score -> flat candidate index (B, K) into K*C."""
    b = logp.shape[0]
    total = beams.scores.unsqueeze(-1) + logp  # (B, K, C)
    if alpha:
        new_len = (beams.lengths + (~beams.finished).long()).unsqueeze(-1)
        total = total / length_penalty(new_len, alpha)
    return total.view(b, -1).topk(k, dim=-1).indices


def _advance(
    beams: _Beams,
    flat: Tensor,
    origin: Tensor,
    tok: Tensor,
    step_logp: Tensor,
    weights: Tensor | None,
    eos_id: int,
) -> _Beams:
    was_finished = beams.finished.gather(1, origin)
    attention = None
    if weights is not None:
        past = beams.attention.index_select(0, flat) if beams.attention is not None else None
        now = weights.index_select(0, flat).unsqueeze(1)  # weights are pre-reorder: pick by origin
        attention = now if past is None else torch.cat([past, now], 1)
    return _Beams(
        scores=beams.scores.gather(1, origin) + step_logp,
        lengths=beams.lengths.gather(1, origin) + (~was_finished).long(),
        finished=was_finished | (tok == eos_id),
        tokens=torch.cat([beams.tokens.index_select(0, flat), tok.view(-1, 1)], 1),
        attention=attention,
    )


def _finalize(beams: _Beams, b: int, k: int, n_best: int, alpha: float) -> BeamResult:
    normalized = beams.scores / length_penalty(beams.lengths, alpha) if alpha else beams.scores
    order = normalized.topk(n_best, dim=-1).indices  # (B, N)
    flat = (order + torch.arange(b, device=order.device).unsqueeze(1) * k).view(-1)
    tokens = beams.tokens.index_select(0, flat).view(b, n_best, -1)
    lengths = beams.lengths.gather(1, order)
    attention = None
    if beams.attention is not None:
        attn = beams.attention.index_select(0, flat)
        attention = mask_after_length(attn, lengths.view(-1)).view(b, n_best, *attn.shape[1:])
    return BeamResult(tokens, beams.scores.gather(1, order), normalized.gather(1, order), lengths, attention)
