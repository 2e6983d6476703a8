"""Per-utterance visual features (key-frame embeddings) read from an ``.npz``, matched to samples.

Layout (the MECR release's, see the data NOTICE): ``features`` (rows, D) floats, one row per utterance;
``offsets`` (items + 1,) ints, item i of the data file owns rows ``offsets[i]:offsets[i+1]``; ``sample_id``
(items,) and ``utt_id`` (rows,) strings. Read with ``allow_pickle=False``: a pickled array is refused.

Matching: a sample in the INSIDE format (its own utterance ids) takes the row of each ``utt_id``; a sample from the
flat format (made-up utterance ids) takes its item's rows by position, and the row count must equal its number of
utterances. Anything else (wrong dimension, NaN/inf, an id not in the file, a row-count mismatch) is an
``InputError`` naming the sample, unless ``missing="zero"``, which gives the sample zero vectors instead (counted).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.rationale.data.schema import Sample, printable

MISSING = ("refuse", "zero")
KEYS = ("features", "offsets", "sample_id", "utt_id")


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in KEYS if k not in z.files]
            if missing:
                raise InputError(f"{path}: not a visual feature file (missing array {missing[0]!r}; needs {KEYS})")
            return {k: z[k] for k in KEYS}
    except InputError:
        raise
    except (ValueError, OSError, EOFError) as err:  # not an npz, truncated, or holding pickled objects
        raise InputError(f"{path}: cannot read visual features ({str(err).splitlines()[0][:120]})") from None


class VisualFile:
    """The visual features of one ``.npz``; ``for_samples`` gives one (utterances, D) float32 array per sample."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such visual feature file: {self.path}")
        arrays = _load(self.path)
        feats, offsets = arrays["features"], arrays["offsets"]
        if feats.ndim != 2 or feats.shape[1] < 1 or not np.issubdtype(feats.dtype, np.number):
            raise InputError(
                f"{self.path}: features must be a (rows, D) numeric array, got {feats.shape} {feats.dtype}"
            )
        if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer) or len(offsets) < 1:
            raise InputError(f"{self.path}: offsets must be a 1-D integer array")
        if offsets[0] != 0 or offsets[-1] != len(feats) or (np.diff(offsets) < 0).any():
            raise InputError(f"{self.path}: offsets must rise from 0 to the {len(feats)} feature rows")
        if len(arrays["sample_id"]) != len(offsets) - 1 or len(arrays["utt_id"]) != len(feats):
            raise InputError(f"{self.path}: sample_id / utt_id lengths do not match offsets / features")
        self.features, self.offsets = feats, offsets
        self.sample_ids = [str(s) for s in arrays["sample_id"]]
        self.utt_ids = [str(u) for u in arrays["utt_id"]]
        self.row_of = {}
        for row, utt in enumerate(self.utt_ids):
            self.row_of.setdefault(utt, row)  # samples of one clip repeat its utterances: any copy will do
        self.dim = int(feats.shape[1])
        self.zero_filled: list[str] = []

    def describe(self) -> dict:
        """What a run records about its video source (checked at prediction: the dimension must match)."""
        digest = hashlib.sha1("\x1f".join(self.sample_ids).encode() + self.offsets.tobytes()).hexdigest()[:12]
        return {"file": self.path.name, "dim": self.dim, "items": len(self.sample_ids), "ids_digest": digest}

    def rows_for(self, sample: Sample) -> np.ndarray:
        sid = printable(sample.sample_id)
        if sample.flat:  # made-up utterance ids: the item's rows, by position in the file
            if sample.item is None or not 0 <= sample.item < len(self.sample_ids):
                raise InputError(f"sample {sid}: no item {sample.item} in {self.path} ({len(self.sample_ids)} items)")
            start, end = int(self.offsets[sample.item]), int(self.offsets[sample.item + 1])
            if end - start != len(sample.utterances):
                raise InputError(
                    f"sample {sid}: {self.path} has {end - start} visual rows for its {len(sample.utterances)} "
                    "utterances (a visual file for another data file?)"
                )
            rows = self.features[start:end]
        else:
            absent = [u.utt_id for u in sample.utterances if u.utt_id not in self.row_of]
            if absent:
                raise InputError(f"sample {sid}: utterance {printable(absent[0])} not in {self.path}")
            rows = self.features[[self.row_of[u.utt_id] for u in sample.utterances]]
        rows = np.asarray(rows, dtype=np.float32)
        if not np.isfinite(rows).all():
            raise InputError(f"sample {sid}: visual features in {self.path} contain NaN or inf")
        return rows

    def for_samples(self, samples: list[Sample], missing: str = "refuse") -> list[np.ndarray]:
        if missing not in MISSING:
            raise InputError(f"visual_missing must be one of {', '.join(MISSING)}, got {missing!r}")
        out = []
        for sample in samples:
            try:
                out.append(self.rows_for(sample))
            except InputError:
                if missing == "refuse":
                    raise
                self.zero_filled.append(sample.sample_id)
                out.append(np.zeros((len(sample.utterances), self.dim), np.float32))
        return out


def check_rows(rows: list[np.ndarray], samples: list[Sample], dim: int, source: str) -> None:
    """Visual arrays given directly (a service request): one (utterances, dim) finite array per sample."""
    for sample, a in zip(samples, rows, strict=True):
        sid = printable(sample.sample_id)
        if a.shape != (len(sample.utterances), dim):
            raise InputError(
                f"sample {sid}: {source} visual features have shape {a.shape}, expected "
                f"({len(sample.utterances)}, {dim})"
            )
        if not np.isfinite(a).all():
            raise InputError(f"sample {sid}: {source} visual features contain NaN or inf")


def mean_vector(rows: list[np.ndarray]) -> np.ndarray:
    """The mean visual vector over every utterance of ``rows`` (the "no video" baseline of faithfulness)."""
    return np.concatenate(rows).mean(0).astype(np.float32)
