"""Character-level text metrics for rationales: METEOR (exact matches), ROUGE-L, BLEU-4 and BERTScore.

Chinese has no spaces, so every non-space character is a token. Each metric is the maintained library's, computed
on those tokens; we keep our own code because those libraries are not dependencies of the package and are slower
where it matters (docs/benchmarks.md, "Hand-written pieces against their libraries"), and tests pin every metric
to the numbers the libraries document in their own tests:

- METEOR is ``nltk.translate.meteor_score.single_meteor_score`` (alpha 0.9, beta 3, gamma 0.5, the same alignment
  and chunk count) restricted to exact matches, so no WordNet is needed; like nltk, a perfect match scores slightly
  below 1 (one chunk still costs 0.5 / m³).
- ROUGE-L is rouge-score's ``rougeL`` F-measure with a character tokenizer, averaged over samples (LCS by a
  bit-parallel algorithm: 1,000 samples take milliseconds, where rouge-score fills an m × n table in Python).
- BLEU-4 is ``sacrebleu.corpus_bleu(hyps, [refs], tokenize="char", smooth_method="none").score / 100``: clipped
  n-gram counts summed over the corpus, geometric mean, brevity penalty, 0 to 1.
- BERTScore (greedy cosine matching of contextual token states, no idf, no rescaling) takes any local Hugging
  Face encoder path, like the bert-score package's ``model_type`` + ``num_layers``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

from heedful.errors import InputError


def chars(text: str) -> list[str]:
    return [c for c in text if not c.isspace()]


def lcs_length(a: Sequence, b: Sequence) -> int:
    """Length of the longest common subsequence (Hyyrö 2004: bit vector over ``a``, one step per item of ``b``)."""
    if not a or not b:
        return 0
    masks: dict = {}
    for i, item in enumerate(a):
        masks[item] = masks.get(item, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for item in b:
        u = v & masks.get(item, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(hyp: str, ref: str) -> dict[str, float]:
    h, r = chars(hyp), chars(ref)
    lcs = lcs_length(h, r)
    if lcs == 0:
        return {"p": 0.0, "r": 0.0, "f": 0.0}
    p, rec = lcs / len(h), lcs / len(r)
    return {"p": p, "r": rec, "f": 2 * p * rec / (p + rec)}


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu_counts(hyps: Sequence[str], refs: Sequence[str], max_n: int = 4) -> tuple[list[int], list[int], int, int]:
    """Corpus statistics of BLEU over characters: clipped matches and totals per n-gram order, hypothesis and
    reference lengths (sacrebleu's ``counts``, ``totals``, ``sys_len``, ``ref_len``)."""
    matched, total = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hyps, refs, strict=True):
        h, r = chars(hyp), chars(ref)
        hyp_len, ref_len = hyp_len + len(h), ref_len + len(r)
        for n in range(1, max_n + 1):
            hn, rn = _ngrams(h, n), _ngrams(r, n)
            matched[n - 1] += sum(min(c, rn[g]) for g, c in hn.items())
            total[n - 1] += max(len(h) - n + 1, 0)
    return matched, total, hyp_len, ref_len


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU-max_n over characters, uniform weights, brevity penalty; 0 when some n-gram order never matches."""
    matched, total, hyp_len, ref_len = bleu_counts(hyps, refs, max_n)
    if hyp_len == 0 or min(matched) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


def _exact_alignment(h: list[str], r: list[str]) -> list[tuple[int, int]]:
    """nltk's ``_match_enums``: hypothesis from the end, each takes the last unused equal reference item."""
    hyp = list(enumerate(h))
    ref = list(enumerate(r))
    matches = []
    for i in range(len(hyp))[::-1]:
        for j in range(len(ref))[::-1]:
            if hyp[i][1] == ref[j][1]:
                matches.append((hyp[i][0], ref[j][0]))
                hyp.pop(i)
                ref.pop(j)
                break
    return sorted(matches)


def _chunks(matches: list[tuple[int, int]]) -> int:
    chunks = 1
    for (h0, r0), (h1, r1) in itertools.pairwise(matches):
        if not (h1 == h0 + 1 and r1 == r0 + 1):
            chunks += 1
    return chunks


def meteor(hyp: str, ref: str, alpha: float = 0.9, beta: float = 3.0, gamma: float = 0.5) -> float:
    h, r = chars(hyp), chars(ref)
    matches = _exact_alignment(h, r)
    if not matches:
        return 0.0
    p, rec = len(matches) / len(h), len(matches) / len(r)
    fmean = p * rec / (alpha * p + (1 - alpha) * rec)
    penalty = gamma * (_chunks(matches) / len(matches)) ** beta
    return (1 - penalty) * fmean


def text_metrics(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Mean METEOR and ROUGE-L F1, corpus BLEU-4, all on characters; n = number of pairs."""
    if len(hyps) != len(refs):
        raise InputError(f"metrics: {len(hyps)} predictions for {len(refs)} references")
    if not hyps:
        raise InputError("metrics: no predictions to score")
    return {
        "meteor": sum(meteor(h, r) for h, r in zip(hyps, refs, strict=True)) / len(hyps),
        "rouge_l": sum(rouge_l(h, r)["f"] for h, r in zip(hyps, refs, strict=True)) / len(hyps),
        "bleu4": corpus_bleu(hyps, refs),
        "n": len(hyps),
    }


def bertscore(
    hyps: Sequence[str],
    refs: Sequence[str],
    model_path: str,
    layer: int | None = None,
    batch_size: int = 32,
    max_length: int = 256,
    per_sample: bool = False,
) -> dict:
    """Mean BERTScore P / R / F1 with the encoder at ``model_path`` (local files only), hidden layer ``layer``
    (default: the last). Special tokens are left out of the matching; an empty side scores 0."""
    import torch

    if len(hyps) != len(refs):
        raise InputError(f"bertscore: {len(hyps)} predictions for {len(refs)} references")
    from heedful.rationale.features.encoders import load_hf_encoder

    tokenizer, model = load_hf_encoder(model_path, "bertscore")
    n_layers = model.config.num_hidden_layers
    layer = n_layers if layer is None else layer
    if not 0 <= layer <= n_layers:
        raise InputError(f"bertscore: layer must be in 0..{n_layers}, got {layer}")

    def states(texts: Sequence[str]) -> list[torch.Tensor]:
        out = []
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
                return_special_tokens_mask=True,
            )
            keep = enc.pop("special_tokens_mask").eq(0) & enc["attention_mask"].bool()  # (B, T)
            with torch.no_grad():
                hidden = model(**enc, output_hidden_states=True).hidden_states[layer]  # (B, T, D)
            hidden = torch.nn.functional.normalize(hidden, dim=-1)
            out += [h[k] for h, k in zip(hidden, keep, strict=True)]
        return out

    p_sum = r_sum = f_sum = 0.0
    f1s = []
    for h, r in zip(states(hyps), states(refs), strict=True):
        if len(h) == 0 or len(r) == 0:
            f1s.append(0.0)
            continue
        sim = h @ r.T  # (Th, Tr)
        p, rec = sim.max(1).values.mean().item(), sim.max(0).values.mean().item()
        p_sum, r_sum = p_sum + p, r_sum + rec
        f1s.append(2 * p * rec / (p + rec) if p + rec > 0 else 0.0)
        f_sum += f1s[-1]
    n = max(len(hyps), 1)
    out = {"bertscore_p": p_sum / n, "bertscore_r": r_sum / n, "bertscore_f1": f_sum / n}
    return out | ({"bertscore_f1_per_sample": f1s} if per_sample else {})
