"""Nearest-neighbour retrieval over sample vectors (``h_change`` or text embeddings) with FAISS.

Cosine similarity as inner product of L2-normalised, C-contiguous float32 rows (``IndexFlatIP``, exact). Each stored
row has a sample id and a clip id (JSON sidecar beside the ``.faiss`` file, both written atomically). ``search``
excludes the query's own sample and, when asked (training time: a prompt must never show the gold rationale or a
sibling event of the same clip), every sample of its clip; it over-fetches to make up for the exclusions and never
returns FAISS's ``-1`` padding when k exceeds what is left: rows are simply shorter.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.rationale.data.schema import printable
from heedful.rationale.features.vectors import l2_normalise
from heedful.runs import atomic_write, read_json, write_json

SIDECAR_VERSION = 2  # 2 adds the checksum; version 1 sidecars (no checksum) still load


def normalise(vectors) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if x.ndim != 2:
        raise InputError(f"retrieval: expected a (N, D) array of vectors, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("retrieval: vectors contain NaN or inf")
    return l2_normalise(x)


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
        """``path`` (``.faiss``) and ``path.with_suffix('.json')`` (sidecar: dim, ids, clips, meta and a checksum
        binding the ids to the index file, so a damaged file or edited ids are refused on load)."""
        import faiss

        path = Path(path)
        atomic_write(path, lambda p: faiss.write_index(self.index, str(p)))
        sidecar = {"version": SIDECAR_VERSION, "dim": self.dim, "metric": "cosine", "count": len(self)}
        sidecar |= {"checksum": _checksum(path, self.ids, self.clips), "meta": self.meta}
        write_json(path.with_suffix(".json"), sidecar | {"ids": self.ids, "clips": self.clips})
        return path

    @classmethod
    def load(cls, path: str | Path) -> VectorIndex:
        """An index saved by ``save``; a damaged, truncated or mismatched pair of files is an ``InputError``."""
        import faiss

        path = Path(path)
        if path.is_dir():
            path = path / "index.faiss"
        sidecar_path = path.with_suffix(".json")
        for p in (path, sidecar_path):
            if not p.is_file():
                raise FileNotFoundError(f"retrieval: no index file {p}")
        ids, clips, sidecar = _read_sidecar(sidecar_path)
        # version 2: the checksum is checked before FAISS parses the file
        if "checksum" in sidecar and sidecar["checksum"] != _checksum(path, ids, clips):
            raise InputError(
                f"{path}: does not match its sidecar {sidecar_path.name} (checksum differs: the index file is "
                "damaged, or the ids were changed after saving); rebuild it with 'heedful rationale index'"
            )
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError) as err:
            reason = str(err).strip().splitlines()[-1][:120] if str(err).strip() else type(err).__name__
            raise InputError(f"{path}: damaged FAISS index ({reason})") from None
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise InputError(f"{path}: expected an inner-product (cosine) index")
        if index.d != sidecar.get("dim") or index.ntotal != len(ids):
            raise InputError(
                f"{path}: holds {index.ntotal} vectors of dimension {index.d}, but its sidecar {sidecar_path.name} "
                f"lists {len(ids)} ids of dimension {sidecar.get('dim')}"
            )
        out = cls(index.d, sidecar.get("meta"))
        out.index, out.ids, out.clips = index, ids, clips
        return out


def _checksum(path: Path, ids: list[str], clips: list[str | None]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps([ids, clips], ensure_ascii=False).encode())
    return digest.hexdigest()


def _read_sidecar(path: Path) -> tuple[list[str], list[str | None], dict]:
    """(ids, clips, sidecar) of an index sidecar, its shape checked: ids unique strings, clips strings or null."""
    sidecar = read_json(path)
    if not isinstance(sidecar, dict):
        raise InputError(f"{path}: expected a JSON object (an index sidecar), got {type(sidecar).__name__}")
    ids, meta = sidecar.get("ids"), sidecar.get("meta", {})
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InputError(f"{path}: ids must be a list of strings")
    if len(set(ids)) != len(ids):
        duplicate = next(i for i, n in Counter(ids).items() if n > 1)
        raise InputError(f"{path}: sample {printable(duplicate)}: duplicate id")
    clips = sidecar.get("clips")
    clips = [None] * len(ids) if clips is None else clips
    if not isinstance(clips, list) or len(clips) != len(ids) or not all(isinstance(c, str | None) for c in clips):
        raise InputError(f"{path}: clips must be a list of {len(ids)} strings or nulls")
    if not isinstance(meta, dict):
        raise InputError(f"{path}: meta must be an object")
    return ids, clips, sidecar
