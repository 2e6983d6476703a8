"""Rationale predictions as browsable samples: the dialogue with its attention shading, the reference and the
prediction, scored with the library's own ROUGE-L and METEOR."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from heedful.errors import InputError
from heedful.report.render import render
from heedful.runs import read_json


def references(config, problems: list[str]) -> dict:
    """Reference samples by id from the data the run names (the demo set when it names none)."""
    from heedful.rationale.data.loaders import demo_path, load_samples

    data = config.get("data") if isinstance(config, dict) else None
    path = data.get("data") if isinstance(data, dict) else data if isinstance(data, str) else None
    try:
        result = load_samples(path or demo_path(), skip_invalid=True)
    except (InputError, OSError) as err:
        problems.append(f"reference data: {err}")
        return {}
    return {s.sample_id: s for s in result.samples}


def evaluated_predictions(config: dict, problems: list[str]):
    """The predictions file an evaluate run scored (its config names it)."""
    path = config.get("predictions")
    if not isinstance(path, str) or not Path(path).is_file():
        problems.append(f"predictions file named in the config not found: {path}")
        return None
    try:
        return read_json(path)
    except InputError as err:
        problems.append(str(err))
        return None


def rationales(folder: Path, predictions, config, max_samples: int, problems: list[str]) -> Markup:
    from heedful.rationale.data.prompt import scoring_string
    from heedful.rationale.eval.metrics import meteor, rouge_l

    if not isinstance(predictions, list):
        problems.append(f"{folder / 'predictions.json'}: expected a JSON list of predictions")
        return Markup("<p>unreadable</p>")
    refs = references(config, problems)
    samples, scored = [], []
    for i, p in enumerate(predictions[:max_samples]):
        if not isinstance(p, dict) or not isinstance(p.get("text"), str):
            problems.append(f"{folder / 'predictions.json'}: prediction #{i} has no text")
            continue
        sample = refs.get(p.get("sample_id"))
        ref = scoring_string(sample.rationale) if sample is not None and sample.rationale is not None else None
        scores = {"rouge_l": rouge_l(p["text"], ref)["f"], "meteor": meteor(p["text"], ref)} if ref else {}
        if scores:
            scored.append(scores)
        samples.append(_sample(p, sample, ref, scores))
    mean = {k: sum(s[k] for s in scored) / len(scored) for k in ("rouge_l", "meteor")} if scored else {}
    more = max(0, len(predictions) - max_samples)
    return render("rationales.html", samples=samples, scored=len(scored), mean=mean, more=more)


def _sample(p: dict, sample, ref: str | None, scores: dict) -> dict:
    attention = p.get("attention")
    weights = attention.get("utterances") if isinstance(attention, dict) else None
    utterances = []
    if sample is not None:
        top = max(weights) if weights else 0.0
        change = sample.emo_change
        for j, u in enumerate(sample.utterances):
            w = weights[j] if weights and j < len(weights) else None
            utterances.append(
                {
                    "speaker": u.speaker,
                    "emotion": ",".join(u.emotion),
                    "text": u.text,
                    "change": change.start_idx <= j <= change.end_idx,
                    "weight": w,
                    "alpha": 0.85 * w / top if w is not None and top > 0 else None,
                }
            )
    rouge = scores.get("rouge_l")
    sid = p.get("sample_id")
    return {
        "id": "null" if sid is None else sid,
        "text": p["text"],
        "reference": ref,
        "rouge": -1 if rouge is None else rouge,
        "score_text": " · ".join(f"{k} {v:.3f}" for k, v in scores.items()),
        "search": f"{sid or ''} {p['text']} {ref or ''}",
        "utterances": utterances,
    }
