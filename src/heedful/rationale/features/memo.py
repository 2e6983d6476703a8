"""A bounded in-memory cache of utterance vectors in front of a text encoder, for a service that sees the same
utterances again: a conversation's request at turn t repeats turns 1..t-1, and samples of one clip share most lines.

Keyed by the encoder's name and the exact text, least recently used first out. It returns the very vector the encoder
gave, so it changes nothing when the encoder's vector of a text does not depend on the texts encoded beside it (true
of every packaged encoder; the ONNX int8 engine quantises per token for this reason).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from heedful.errors import InputError


class MemoEncoder:
    """``encoder`` with the vectors of up to ``max_texts`` texts kept; one call encodes every missing text at once."""

    def __init__(self, encoder, max_texts: int = 20_000):
        if not isinstance(max_texts, int) or isinstance(max_texts, bool) or max_texts < 1:
            raise InputError(f"the vector cache needs max_texts >= 1, got {max_texts!r}")
        self.encoder, self.max_texts = encoder, max_texts
        self.name, self.dim = encoder.name, encoder.dim
        self.table: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self.hits = self.misses = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.table)

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            keys = [(self.name, t) for t in texts]
            known = [k in self.table for k in keys]
            missing = list(dict.fromkeys(k for k, seen in zip(keys, known, strict=True) if not seen))
            self.hits += sum(known)
            self.misses += len(missing)
            fresh = dict(zip(missing, self._encode([t for _, t in missing]), strict=True)) if missing else {}
            out = np.zeros((len(texts), self.dim), np.float32)
            for row, key in enumerate(keys):
                vector = fresh.get(key)
                if vector is None:
                    vector = self.table[key]
                    self.table.move_to_end(key)
                out[row] = vector
            for key, vector in fresh.items():
                self.table[key] = vector
                if len(self.table) > self.max_texts:
                    self.table.popitem(last=False)
            return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self.encoder.encode(texts), np.float32)
        if vectors.shape != (len(texts), self.dim):
            raise InputError(f"encoder {self.name} returned shape {vectors.shape} for {len(texts)} texts")
        return [row.copy() for row in vectors]  # own rows: an evicted text frees its memory
