"""95% bootstrap confidence intervals for the rationale metrics, resampling dev samples (percentile method).

Per-sample metrics (METEOR, ROUGE-L, BERTScore F1) are averaged over each resample; corpus BLEU-4 is recomputed on
it. The same resamples serve every metric, and ``paired_difference`` uses them for two systems scored on the same
samples, which is what tells a real difference from noise (their separate intervals may overlap while the paired one
excludes zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heedful.errors import InputError
from heedful.rationale.eval.metrics import _ngrams, chars, meteor, rouge_l


def resamples(n: int, rounds: int = 1000, seed: int = 0) -> np.ndarray:
    """(rounds, n) indices drawn with replacement."""
    if n < 1 or rounds < 1:
        raise InputError(f"bootstrap needs samples and rounds >= 1, got n={n}, rounds={rounds}")
    return np.random.default_rng(seed).integers(0, n, size=(rounds, n))


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def per_sample_scores(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, np.ndarray]:
    return {
        "meteor": np.array([meteor(h, r) for h, r in zip(hyps, refs, strict=True)]),
        "rouge_l": np.array([rouge_l(h, r)["f"] for h, r in zip(hyps, refs, strict=True)]),
    }


def bootstrap_ci(
    hyps: Sequence[str],
    refs: Sequence[str],
    extra: dict[str, Sequence[float]] | None = None,
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    bleu: bool = True,
) -> dict[str, list[float]]:
    """{metric: [low, high]} for METEOR, ROUGE-L, BLEU-4 and any ``extra`` per-sample metric (e.g. BERTScore F1)."""
    if len(hyps) != len(refs):
        raise InputError(f"bootstrap: {len(hyps)} predictions for {len(refs)} references")
    idx = resamples(len(hyps), rounds, seed)
    scores = per_sample_scores(hyps, refs) | {k: np.asarray(v, dtype=float) for k, v in (extra or {}).items()}
    out = {name: list(percentile_ci(values[idx].mean(1), level)) for name, values in scores.items()}
    if bleu:
        out["bleu4"] = list(percentile_ci(_resampled_bleu(hyps, refs, idx), level))
    return {k: [round(lo, 4), round(hi, 4)] for k, (lo, hi) in out.items()}


def _bleu_counts(hyp: str, ref: str, max_n: int = 4) -> list[int]:
    """[matched_1..max_n, total_1..max_n, hyp_len, ref_len] of one pair: corpus BLEU is a function of their sums."""
    h, r = chars(hyp), chars(ref)
    matched, total = [], []
    for n in range(1, max_n + 1):
        hn, rn = _ngrams(h, n), _ngrams(r, n)
        matched.append(sum(min(c, rn[g]) for g, c in hn.items()))
        total.append(max(len(h) - n + 1, 0))
    return [*matched, *total, len(h), len(r)]


def _resampled_bleu(hyps, refs, idx: np.ndarray, max_n: int = 4) -> np.ndarray:
    """Corpus BLEU of every resample (rows of ``idx``) from per-pair counts, as ``corpus_bleu`` computes it."""
    counts = np.array([_bleu_counts(h, r, max_n) for h, r in zip(hyps, refs, strict=True)], dtype=float)
    sums = counts[idx].sum(axis=1)  # (rounds, 2 * max_n + 2)
    matched, total = sums[:, :max_n], sums[:, max_n : 2 * max_n]
    hyp_len, ref_len = sums[:, -2], sums[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log(matched / total).mean(axis=1)
        brevity = np.where(hyp_len > ref_len, 1.0, np.exp(1 - ref_len / hyp_len))
        bleu = brevity * np.exp(log_p)
    return np.where((hyp_len == 0) | (matched.min(axis=1) == 0), 0.0, bleu)


def paired_difference(
    a: Sequence[float], b: Sequence[float], rounds: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, float]:
    """Mean of per-sample ``a - b`` with its bootstrap interval; ``real`` when the interval excludes 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise InputError(f"paired bootstrap: {a.shape[0]} vs {b.shape[0]} samples (score the same samples)")
    diff = a - b
    lo, hi = percentile_ci(diff[resamples(len(diff), rounds, seed)].mean(1), level)
    return {"mean": round(float(diff.mean()), 4), "low": round(lo, 4), "high": round(hi, 4), "real": lo > 0 or hi < 0}
