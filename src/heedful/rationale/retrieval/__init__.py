"""Retrieval (route 2): sample keys, a FAISS index persisted with a JSON sidecar, and the nearest-neighbour copy
baseline. The configs load without numpy; the rest on first use (FAISS inside the functions that need it)."""

from importlib import import_module

from heedful.rationale.retrieval.config import KEYS, KeyConfig, KnnConfig, QueryConfig

_LAZY = {
    "features_for": "keys",
    "sample_vectors": "keys",
    "text_key": "keys",
    "build_index": "store",
    "item_rationale": "store",
    "open_index": "store",
    "predict_knn": "store",
    "retrieve": "store",
}

__all__ = ["KEYS", "KeyConfig", "KnnConfig", "QueryConfig", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"heedful.rationale.retrieval.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
