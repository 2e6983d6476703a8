"""Retrieval (route 2): sample keys, a FAISS index persisted with a JSON sidecar, and the nearest-neighbour copy
baseline. FAISS is imported inside the functions that need it."""

from heedful.rationale.retrieval.keys import KEYS, KeyConfig, features_for, sample_vectors, text_key
from heedful.rationale.retrieval.store import build_index, item_rationale, open_index, predict_knn, retrieve

__all__ = [
    "KEYS",
    "KeyConfig",
    "build_index",
    "features_for",
    "item_rationale",
    "open_index",
    "predict_knn",
    "retrieve",
    "sample_vectors",
    "text_key",
]
