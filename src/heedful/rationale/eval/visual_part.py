"""Scores that can see the video: the visual stimulus part of generated rationales, and repeated spans.

* Visual part: on the samples whose reference names a visual stimulus, char ROUGE-L F and METEOR of the generated
  visual part against the reference's (a missing part scores 0); over all samples, precision / recall / F1 of
  emitting a visual part at all.
* Repeats: whether a rationale repeats a span of ``n`` or more characters
  (``A觉得B的儿子再回老家，觉得B的儿子再回老家``), the failure that a no-repeat rule in decoding targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heedful.rationale.data.prompt import parse_scoring_string
from heedful.rationale.data.schema import Rationale
from heedful.rationale.eval.metrics import meteor, rouge_l


def visual_of(text: str) -> str:
    """The visual part of a scoring string ('' when it has none)."""
    return parse_scoring_string(text).visual or ""


def visual_part_scores(hyps: Sequence[str], refs: Sequence[Rationale]) -> dict:
    """Aggregate scores plus ``per_sample`` (ROUGE-L and METEOR on the samples with a visual reference, in order)."""
    generated = [visual_of(h) for h in hyps]
    wanted = [bool(r.visual) for r in refs]
    rouge = [rouge_l(g, r.visual)["f"] if g else 0.0 for g, r, w in zip(generated, refs, wanted, strict=True) if w]
    met = [meteor(g, r.visual) if g else 0.0 for g, r, w in zip(generated, refs, wanted, strict=True) if w]
    emitted = np.array([bool(g) for g in generated])
    truth = np.array(wanted)
    tp = int((emitted & truth).sum())
    precision = tp / max(int(emitted.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        "visual_rouge_l": round(float(np.mean(rouge)), 4) if rouge else 0.0,
        "visual_meteor": round(float(np.mean(met)), 4) if met else 0.0,
        "visual_precision": round(precision, 4),
        "visual_recall": round(recall, 4),
        "visual_f1": round(f1, 4),
        "n_visual_refs": int(truth.sum()),
        "n_visual_generated": int(emitted.sum()),
        "per_sample": {"visual_rouge_l": rouge, "visual_meteor": met},
    }


def repeats_span(text: str, n: int = 6) -> bool:
    """True when some span of ``n`` characters occurs twice in ``text`` (at different, possibly overlapping,
    positions)."""
    seen = set()
    for i in range(len(text) - n + 1):
        span = text[i : i + n]
        if span in seen:
            return True
        seen.add(span)
    return False


def repeat_share(texts: Sequence[str], n: int = 6) -> float:
    return round(sum(repeats_span(t, n) for t in texts) / max(len(texts), 1), 4)
