"""Nearest-neighbour retrieval over sample vectors (``h_change`` or text embeddings) with FAISS.

Cosine similarity as inner product of L2-normalised, C-contiguous float32 rows (``IndexFlatIP``, exact). Each stored
row has a sample id and a clip id (JSON sidecar beside the ``.faiss`` file, both written atomically). ``search``
excludes the query's own sample and, when asked (training time: a prompt must never show the gold rationale or a
sibling event of the same clip), every sample of its clip; it over-fetches to make up for the exclusions and never
returns FAISS's ``-1`` padding when k exceeds what is left: rows are simply shorter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.runs import atomic_write, read_json, write_json

SIDECAR_VERSION = 1


def normalise(vectors) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if x.ndim != 2:
        raise InputError(f"retrieval: expected a (N, D) array of vectors, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("retrieval: vectors contain NaN or inf")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12))


@dataclass
class Hit:
    sample_id: str
    clip_id: str | None
    score: float
    row: int


class VectorIndex:
    """Exact cosine index with sample / clip ids. ``meta`` holds what built it (key, encoder, graph, split)."""

    def __init__(self, dim: int, meta: dict | None = None):
        import faiss  # lazy: OpenMP clashes with torch have caused segfaults when imported at module level

        if dim < 1:
            raise InputError(f"retrieval: dimension must be >= 1, got {dim}")
        self.dim = dim
        self.index = faiss.IndexFlatIP(dim)
        self.ids: list[str] = []
        self.clips: list[str | None] = []
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return self.index.ntotal

    def _check(self, x: np.ndarray, what: str) -> np.ndarray:
        x = normalise(x)
        if x.shape[1] != self.dim:
            raise InputError(f"retrieval: {what} have dimension {x.shape[1]}, the index has {self.dim}")
        return x

    def add(self, vectors, ids: list[str], clips: list[str | None] | None = None) -> None:
        x = self._check(vectors, "vectors to add")
        clips = list(clips) if clips is not None else [None] * len(ids)
        if not len(x) == len(ids) == len(clips):
            raise InputError(f"retrieval: {len(x)} vectors, {len(ids)} ids and {len(clips)} clips")
        seen = set(self.ids)
        for sid in ids:
            if sid in seen:
                raise InputError(f"retrieval: sample {sid}: duplicate sample id in the index")
            seen.add(sid)
        self.index.add(x)
        self.ids += list(ids)
        self.clips += clips

    def search(
        self,
        queries,
        k: int,
        query_ids: list[str] | None = None,
        query_clips: list[str | None] | None = None,
    ) -> list[list[Hit]]:
        """Top-k per query, best first, leaving out ``query_ids[i]`` and (when given) every row of ``query_clips[i]``.

        Rows are shorter than k when fewer candidates remain; never an id of -1.
        """
        if k < 1:
            raise InputError(f"retrieval: k must be >= 1, got {k}")
        q = self._check(queries, "queries")
        n = len(q)
        query_ids = list(query_ids) if query_ids is not None else [None] * n
        query_clips = list(query_clips) if query_clips is not None else [None] * n
        if not len(query_ids) == len(query_clips) == n:
            raise InputError(f"retrieval: {n} queries but {len(query_ids)} ids and {len(query_clips)} clips")
        if len(self) == 0 or n == 0:
            return [[] for _ in range(n)]
        excluded = [self._excluded(qid, clip) for qid, clip in zip(query_ids, query_clips, strict=True)]
        fetch = min(len(self), k + max(len(e) for e in excluded))
        scores, rows = self.index.search(q, fetch)
        return [self._hits(s, r, e, k) for s, r, e in zip(scores, rows, excluded, strict=True)]

    def _excluded(self, query_id: str | None, clip: str | None) -> set[int]:
        if getattr(self, "_rows", (None,))[0] != len(self):  # (count, rows by id, rows by clip), rebuilt after add
            by_id = {sid: i for i, sid in enumerate(self.ids)}
            by_clip: dict[str, set[int]] = {}
            for i, c in enumerate(self.clips):
                if c is not None:
                    by_clip.setdefault(c, set()).add(i)
            self._rows = (len(self), by_id, by_clip)
        _, by_id, by_clip = self._rows
        out = set(by_clip.get(clip, ())) if clip is not None else set()
        if query_id in by_id:
            out.add(by_id[query_id])
        return out

    def _hits(self, scores: np.ndarray, rows: np.ndarray, excluded: set[int], k: int) -> list[Hit]:
        hits = []
        for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
            if row < 0 or row in excluded:
                continue
            hits.append(Hit(self.ids[row], self.clips[row], float(score), int(row)))
            if len(hits) == k:
                break
        return hits

    def vectors(self) -> np.ndarray:
        return self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)

    def save(self, path: str | Path) -> Path:
        """``path`` (``.faiss``) and ``path.with_suffix('.json')`` (sidecar: dim, ids, clips, meta)."""
        import faiss

        path = Path(path)
        atomic_write(path, lambda p: faiss.write_index(self.index, str(p)))
        sidecar = {"version": SIDECAR_VERSION, "dim": self.dim, "metric": "cosine", "count": len(self)}
        write_json(path.with_suffix(".json"), sidecar | {"meta": self.meta, "ids": self.ids, "clips": self.clips})
        return path

    @classmethod
    def load(cls, path: str | Path) -> VectorIndex:
        import faiss

        path = Path(path)
        if path.is_dir():
            path = path / "index.faiss"
        sidecar_path = path.with_suffix(".json")
        for p in (path, sidecar_path):
            if not p.is_file():
                raise FileNotFoundError(f"retrieval: no index file {p}")
        sidecar = read_json(sidecar_path)
        index = faiss.read_index(str(path))
        if index.d != sidecar.get("dim") or index.ntotal != len(sidecar.get("ids", [])):
            raise InputError(f"retrieval: {path} does not match its sidecar {sidecar_path.name}")
        out = cls(index.d, sidecar.get("meta"))
        out.index, out.ids, out.clips = index, list(sidecar["ids"]), list(sidecar.get("clips") or [None] * index.ntotal)
        return out
