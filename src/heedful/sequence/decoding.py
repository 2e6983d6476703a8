"""Autoregressive decoding: greedy and temperature / top-k / top-p sampling.

Works with any model offering ``encode(src, src_lengths) -> state``, ``start_input(B, device)``,
``decoder_step(prev, state) -> (output, state, weights)`` and a ``config`` with ``tokens_out``,
``eos_id`` and ``pad_id`` (``heedful.sequence.Seq2Seq`` does). Continuous-output models are rolled
out for ``max_len`` steps (greedy is the only sensible decoding there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from heedful.errors import InputError


@dataclass
class DecodeResult:
    tokens: Tensor | None  # (B, T) ids, pad after EOS (token models)
    values: Tensor | None  # (B, T, output_size) (continuous models)
    scores: Tensor | None  # (B,) summed log-probabilities of the chosen tokens, EOS included
    lengths: Tensor  # (B,) generated steps, EOS included
    attention: Tensor | None  # (B, T, S), zero after a sequence has ended


def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    if temperature <= 0:
        raise InputError(f"temperature must be > 0, got {temperature} (use greedy decoding for argmax)")
    if top_k < 0 or not 0.0 < top_p <= 1.0:
        raise InputError(f"need top_k >= 0 and 0 < top_p <= 1, got top_k={top_k}, top_p={top_p}")


def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Temperature, then keep the ``top_k`` best and the smallest set whose mass reaches ``top_p``;
    the rest become -inf. (B, V) -> (B, V). The best token always survives."""
    check_sampling(temperature, top_k, top_p)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        mass_before = probs.cumsum(-1) - probs
        drop_sorted = mass_before >= top_p
        logits = logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    return logits


def greedy_decode(
    model,
    src: Tensor,
    src_lengths: Tensor | None = None,
    max_len: int = 50,
    start: Tensor | None = None,
    return_attention: bool = True,
) -> DecodeResult:
    """Pick the most likely token (or take the predicted value) at every step."""
    return _decode(model, src, src_lengths, max_len, lambda logits: logits.argmax(-1), start, return_attention)


def sample_decode(
    model,
    src: Tensor,
    src_lengths: Tensor | None = None,
    max_len: int = 50,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
    return_attention: bool = True,
) -> DecodeResult:
    """Sample each token from the filtered distribution (see ``filter_logits``)."""
    if not model.config.tokens_out:
        raise InputError("sampling needs a token-output model; use greedy_decode for continuous outputs")
    check_sampling(temperature, top_k, top_p)  # before the encoder runs

    def pick(logits: Tensor) -> Tensor:
        probs = filter_logits(logits, temperature, top_k, top_p).softmax(-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    return _decode(model, src, src_lengths, max_len, pick, None, return_attention)


@torch.no_grad()
def _decode(
    model, src, src_lengths, max_len: int, pick: Callable[[Tensor], Tensor], start, return_attention: bool
) -> DecodeResult:
    if max_len < 1:
        raise InputError(f"max_len must be >= 1, got {max_len}")
    cfg = model.config
    state = model.encode(src, src_lengths)
    b = src.shape[0]
    prev = model.start_input(b, src.device) if start is None else start
    finished = torch.zeros(b, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(b, dtype=torch.long, device=src.device)
    scores = torch.zeros(b, device=src.device)
    steps, maps = [], []
    for _ in range(max_len):
        out, state, weights = model.decoder_step(prev, state)
        maps.append(weights)
        lengths += (~finished).long()
        if not cfg.tokens_out:
            prev = out
            steps.append(out)
            continue
        tok = pick(out).masked_fill(finished, cfg.pad_id)
        scores += out.log_softmax(-1).gather(1, tok[:, None]).squeeze(1).masked_fill(finished, 0.0)
        finished |= tok == cfg.eos_id
        prev = tok
        steps.append(tok)
        if bool(finished.all()):
            break
    attention = mask_after_length(torch.stack(maps, 1), lengths) if return_attention and maps[0] is not None else None
    if cfg.tokens_out:
        return DecodeResult(torch.stack(steps, 1), None, scores, lengths, attention)
    return DecodeResult(None, torch.stack(steps, 1), None, lengths, attention)


def mask_after_length(maps: Tensor, lengths: Tensor) -> Tensor:
    """Zero the attention rows (..., T, S) at steps >= length (after the sequence ended)."""
    steps = torch.arange(maps.shape[-2], device=maps.device)
    valid = steps < lengths.unsqueeze(-1)  # (..., T)
    return maps * valid.unsqueeze(-1).to(maps.dtype)
