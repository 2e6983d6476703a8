"""Retrieval keys: one vector per sample (``KeyConfig.key``).

* ``text``: the dialogue's utterance embeddings, mean over the whole dialogue and mean over the change span, each
  L2-normalised and concatenated (2·D).
* ``hchange``: the contrastively pre-trained graph's projected ``h_change`` (``KeyConfig.graph`` = the folder
  written by ``pretrain``), which lives in the rationale-embedding space.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.rationale.data.schema import Sample
from heedful.rationale.retrieval.config import KEYS, KeyConfig  # noqa: F401  (re-exported: their old home)
from heedful.rationale.retrieval.index import normalise


def text_key(samples: list[Sample], feats: list[np.ndarray]) -> np.ndarray:
    """(N, 2·D): [mean over the dialogue | mean over the change span], each half unit-length."""
    rows = []
    for s, f in zip(samples, feats, strict=True):
        span = f[s.emo_change.start_idx : s.emo_change.end_idx + 1]
        rows.append(np.concatenate(normalise(np.stack([f.mean(0), span.mean(0)]))))
    return np.stack(rows).astype(np.float32)


def features_for(samples: list[Sample], encoder: str, cfg: KeyConfig, progress: bool = True) -> list[np.ndarray]:
    """Utterance features: the precomputed file when ``cfg.features`` is set, else ``encoder`` (cached)."""
    from heedful.rationale.features.encoders import Precomputed, make_encoder, utterance_features

    if cfg.features:
        return Precomputed.open(cfg.features, samples).features(samples)
    return utterance_features(samples, make_encoder(encoder), cfg.cache_dir, progress=progress)


def visual_for(samples: list[Sample], cfg: KeyConfig) -> list[np.ndarray] | None:
    """Per-utterance visual features from ``cfg.visual`` (None without one)."""
    if not cfg.visual:
        return None
    from heedful.rationale.features.visual import VisualFile

    return VisualFile(cfg.visual).for_samples(samples, cfg.visual_missing)


def vector_source(cfg: KeyConfig) -> str:
    """What makes the vectors of ``cfg``, recorded in an index and checked when it is queried: the encoder's name
    (or precomputed features), and for ``hchange`` a digest of the graph weights."""
    from heedful.rationale.features.encoders import encoder_name

    if cfg.key == "hchange":
        weights = Path(cfg.graph) / "graph.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"no graph checkpoint {weights} (train one with 'heedful rationale pretrain')")
        return "hchange:" + hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    return "text:" + ("precomputed" if cfg.features else encoder_name(cfg.encoder))


def sample_vectors(samples: list[Sample], cfg: KeyConfig, progress: bool = True) -> np.ndarray:
    if cfg.key == "hchange":
        from heedful.rationale.graph.contrastive import embed_changes, load_aligner

        model, meta = load_aligner(cfg.graph)  # the graph knows the encoder it was trained on
        text = features_for(samples, meta.get("encoder", cfg.encoder), cfg, progress)
        frames = None
        if model.graph_config.visual_dim:  # a video-aware h_change key: the frames go into the graph too
            if not cfg.visual:
                raise InputError(f"the graph {cfg.graph} was trained with video: pass --visual FILE")
            frames = visual_for(samples, cfg)
            if frames and frames[0].shape[1] != model.graph_config.visual_dim:
                raise InputError(
                    f"{cfg.visual}: visual features are {frames[0].shape[1]}-d; the graph expects "
                    f"{model.graph_config.visual_dim}"
                )
        return embed_changes(model, samples, text, frames)
    return text_key(samples, features_for(samples, cfg.encoder, cfg, progress))
