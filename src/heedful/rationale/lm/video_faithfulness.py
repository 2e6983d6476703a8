"""Faithfulness of the video: does the LM's output depend on the frames?

Every visual vector of a dialogue is replaced by the training mean (the frames say nothing, everything else is
unchanged), and two things are measured: the mean change of the *reference* rationale's log-probability per token
(teacher-forced, so no decoding noise), and, optionally, the change in visual-part ROUGE-L of regenerated
rationales. Part 3's text-only condition moved the log-probability by < 1e-7 nats per token.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from heedful.devices import model_device, to_device
from heedful.errors import InputError
from heedful.explain.config import FaithfulnessConfig
from heedful.rationale.lm.examples import LMExample, collate_train, graph_batch
from heedful.rationale.lm.forward import mean_log_prob, upper_hidden
from heedful.rationale.lm.model import RationaleLM


def without_video(examples: list[LMExample], mean: np.ndarray) -> list[LMExample]:
    """The examples with every utterance's frame features replaced by ``mean``."""
    return [replace(e, visual=np.broadcast_to(mean, e.visual.shape).copy()) for e in examples]


@torch.no_grad()
def reference_log_probs(model: RationaleLM, examples: list[LMExample], pad_id: int, batch_size: int = 4) -> np.ndarray:
    """(N,) mean log p(reference rationale) per token, teacher-forced."""
    model.eval()
    out = []
    for start in range(0, len(examples), batch_size):
        chosen = examples[start : start + batch_size]
        batch = to_device(collate_train(chosen, pad_id), model_device(model))
        with model.condition(to_device(graph_batch(chosen, model.cfg.graph), model_device(model))):
            hidden = upper_hidden(model.clm, None, batch["attention_mask"], batch["input_ids"])
        out.append(mean_log_prob(model.lm, hidden, batch["labels"]).double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def video_removal(
    model: RationaleLM, tokenizer, examples: list[LMExample], mean: np.ndarray, regenerate=None, batch_size: int = 4
) -> dict:
    """``nats_per_token``: mean of log p(reference | frames) − log p(reference | mean frames) per token (with its
    per-sample values); ``regenerate(examples) -> texts`` adds the visual-part ROUGE-L change of regenerated text."""
    if not model.cfg.graph.visual_dim:
        raise InputError("this model has no video: nothing to remove (train it with --visual)")
    examples = [e for e in examples if e.target_ids]
    if not examples:
        raise InputError("video removal needs samples with a reference rationale")
    real = reference_log_probs(model, examples, tokenizer.pad_token_id, batch_size)
    blank = reference_log_probs(model, without_video(examples, mean), tokenizer.pad_token_id, batch_size)
    diff = real - blank
    report = {
        "nats_per_token": round(float(diff.mean()), 6),
        "abs_nats_per_token": round(float(np.abs(diff).mean()), 6),
        "n": len(examples),
        "per_sample": [round(float(d), 6) for d in diff],
    }
    if regenerate is not None:
        from heedful.rationale.eval.visual_part import visual_part_scores

        refs = [e.sample.rationale for e in examples]
        with_frames = visual_part_scores(regenerate(examples), refs)
        mean_frames = visual_part_scores(regenerate(without_video(examples, mean)), refs)
        report["visual_rouge_l"] = with_frames["visual_rouge_l"]
        report["visual_rouge_l_without_video"] = mean_frames["visual_rouge_l"]
        report["visual_generated"] = [with_frames["n_visual_generated"], mean_frames["n_visual_generated"]]
    return report


MEAN_FILE = "visual_mean.npy"


def save_mean(folder, examples: list[LMExample]) -> None:
    """The training frames' mean vector, kept in the run: the "no video" input of ``video_removal``."""
    from pathlib import Path

    from heedful.rationale.features.encoders import save_npy
    from heedful.rationale.features.visual import mean_vector

    save_npy(Path(folder) / MEAN_FILE, mean_vector([e.visual for e in examples]))


def video_run(run, cfg: FaithfulnessConfig, regenerate: bool = False, progress: bool = True, device="cpu") -> dict:
    """Video removal on (a seeded subset, ``cfg.max_samples`` and ``cfg.seed``, of) a ``rationale predict --method
    lm`` run, the model on ``device``: ``run/video_removal.json``."""
    from pathlib import Path

    from heedful.explain.faithfulness import seeded_subset
    from heedful.rationale.lm.config import GenerateConfig
    from heedful.rationale.lm.generate import generate_rationales
    from heedful.rationale.lm.pipeline import prepare
    from heedful.rationale.lm.utterance_faithfulness import open_predict_run
    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.runs import write_json

    run = Path(run)
    config, predictions, model, tokenizer, meta, by_id = open_predict_run(run, device)
    mean_path = Path(config["model"]) / MEAN_FILE
    if not model.cfg.graph.visual_dim or not mean_path.is_file():
        raise InputError(f"{config['model']}: a model without video (or without {MEAN_FILE}): nothing to remove")
    mean = np.load(mean_path, allow_pickle=False)
    samples = [by_id[predictions[i]["sample_id"]] for i in seeded_subset(np.arange(len(predictions)), cfg)]
    features = KeyConfig(**meta["features"]) if meta.get("features") else KeyConfig()
    examples = prepare(model, tokenizer, samples, None, features, progress=progress, strict=False)
    fields = set(GenerateConfig().to_dict()) - {"attention", "device"}
    gen = GenerateConfig(**{k: config[k] for k in fields if config.get(k) is not None})

    def again(chosen):
        return [p["text"] for p in generate_rationales(model, tokenizer, chosen, gen, progress)]

    report = video_removal(model, tokenizer, examples, mean, again if regenerate else None)
    report |= {"run": str(run), "model": config["model"], "gates": {str(i): g for i, g in model.clm.gates().items()}}
    write_json(run / "video_removal.json", report)
    return report
