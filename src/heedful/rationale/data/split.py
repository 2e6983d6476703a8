"""Clip-aware splitting: samples cut from one dialogue clip (different change events) never straddle train / dev.

A clip is known from the INSIDE record (video path or utterance-id prefix). The flat training format carries no id,
but samples of one clip share utterances: each is a prefix of the clip's dialogue. Two samples are put in one clip
when they share a pair of consecutive utterances (speaker and text), a key specific enough that stock replies such
as "嗯。" do not chain unrelated clips together, or the same opening line; connected components become clips.
On the 2,892 research samples this gives 907 clips.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import replace
from typing import TYPE_CHECKING

from heedful.errors import InputError

if TYPE_CHECKING:
    from heedful.rationale.data.schema import Sample


def _keys(sample: Sample) -> list[tuple]:
    """Consecutive utterance pairs, plus the opening line (so a one-line prefix still joins its clip)."""
    lines = [(u.speaker, u.text) for u in sample.utterances]
    return [(lines[0],), *itertools.pairwise(lines)]


def shared_utterance_clips(samples: list[Sample]) -> list[int]:
    """Component index per sample under 'shares a consecutive utterance pair' (union-find)."""
    parent = list(range(len(samples)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[tuple, int] = {}
    for i, sample in enumerate(samples):
        for key in _keys(sample):
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    return [find(i) for i in range(len(samples))]


def assign_clips(samples: list[Sample]) -> list[Sample]:
    """Fill ``clip_id`` where the record did not say it, from shared utterances (stable, content-derived ids)."""
    missing = [s for s in samples if s.clip_id is None]
    if not missing:
        return samples
    roots = shared_utterance_clips(missing)
    first: dict[int, Sample] = {}
    for root, sample in zip(roots, missing, strict=True):
        first.setdefault(root, sample)
    names = {}
    for root, sample in first.items():
        u = sample.utterances[0]
        digest = hashlib.sha1(f"{u.speaker}\t{u.text}\t{sample.sample_id}".encode()).hexdigest()[:12]
        names[root] = f"clip-{digest}"
    filled = iter(replace(s, clip_id=names[r]) for s, r in zip(missing, roots, strict=True))
    return [s if s.clip_id is not None else next(filled) for s in samples]


def clip_split(samples: list[Sample], dev_fraction: float = 0.2, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """(train, dev) with whole clips on each side; dev holds about ``dev_fraction`` of the samples."""
    if not 0.0 < dev_fraction < 1.0:
        raise InputError(f"dev_fraction must be in (0, 1), got {dev_fraction}")
    samples = assign_clips(samples)
    clips = sorted({s.clip_id for s in samples})
    random.Random(seed).shuffle(clips)
    sizes: dict[str, int] = {}
    for s in samples:
        sizes[s.clip_id] = sizes.get(s.clip_id, 0) + 1
    dev_clips, target, taken = set(), dev_fraction * len(samples), 0
    for clip in clips:
        if taken >= target:
            break
        dev_clips.add(clip)
        taken += sizes[clip]
    if len(dev_clips) == len(clips) and len(clips) > 1:
        dev_clips.discard(clips[-1])
    train = [s for s in samples if s.clip_id not in dev_clips]
    dev = [s for s in samples if s.clip_id in dev_clips]
    return train, dev


def select_split(samples: list[Sample], split: str, dev_fraction: float = 0.2, seed: int = 0) -> list[Sample]:
    if split == "all":
        return list(samples)
    if split not in ("train", "dev"):
        raise InputError(f"split must be one of train, dev, all; got {split!r}")
    train, dev = clip_split(samples, dev_fraction, seed)
    return train if split == "train" else dev
