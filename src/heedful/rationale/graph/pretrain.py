"""Contrastive pre-training of the change graph from data files: the pipeline behind ``heedful rationale pretrain``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heedful import tracking
from heedful.errors import InputError
from heedful.rationale.data.config import DataConfig, load_split
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.features.encoders import encode_groups, make_encoder, utterance_features
from heedful.rationale.features.visual import VisualFile
from heedful.rationale.graph.config import ContrastiveConfig, GraphConfig
from heedful.rationale.graph.contrastive import save_aligner, train_aligner
from heedful.runs import write_json


def pretrain(
    data: DataConfig,
    encoder: str,
    cache_dir: str | Path | None,
    graph: GraphConfig,
    contrastive: ContrastiveConfig,
    folder: str | Path,
    progress: bool = True,
    visual: str | None = None,
    visual_missing: str = "refuse",
) -> dict:
    """Train the change graph with InfoNCE on the train split, report dev recall@k, save the checkpoint.
    ``visual``: per-utterance frame features (.npz), fused into the graph's nodes (``graph.fusion``)."""
    graph.check_fits_memory()
    enc = make_encoder(encoder)
    frames = VisualFile(visual) if visual else None
    if frames is not None:
        graph.visual_dim = frames.dim
    if graph.text_dim != enc.dim:
        raise InputError(f"graph text_dim {graph.text_dim} differs from the encoder's dimension {enc.dim}")

    def part(split: str):
        samples = load_split(data.with_split(split)).samples
        samples = [s for s in samples if s.rationale is not None]
        feats = utterance_features(samples, enc, cache_dir, progress=progress)
        texts = [[scoring_string(s.rationale)] for s in samples]
        targets = encode_groups(texts, enc, cache_dir, progress=progress, desc="rationales")
        targets = np.concatenate(targets) if targets else np.zeros((0, enc.dim), np.float32)  # no rationale at all
        rows = frames.for_samples(samples, visual_missing) if frames is not None else None
        return samples, feats, targets, rows

    train, dev = part("train"), part("dev")
    model, report = train_aligner(train, dev, graph, contrastive, progress)
    report |= {"n_train": len(train[0]), "n_dev": len(dev[0])}
    save_aligner(model, folder, {"encoder": encoder, "visual": frames.describe() if frames is not None else None})
    write_json(Path(folder) / "metrics.json", report)
    history = [{"epoch": i + 1, "loss": loss} for i, loss in enumerate(report["loss"])]
    tracking.log_outcome(folder, contrastive.log_with, "rationale-pretrain", history=history)
    return report
