"""Verbalised video, alone: how well a phrase classifier on the frames names the visual stimulus.

Research data (``../shared/data/mecr``, skipped without it): the clip-disjoint split (seed 0), a logistic-regression
phrase classifier (``heedful.rationale.features.verbal``) fitted on the train split's frames, scored on the dev
samples whose reference names a visual stimulus (char ROUGE-L / METEOR of the visual part, a missing part scores 0),
against always writing the most frequent phrase and a seeded random training phrase.

    .venv/bin/python benchmarks/rationale_verbal_video.py [--top 24] [--data ../shared/data/mecr]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from heedful.rationale.data.config import DataConfig, load_split
from heedful.rationale.eval.visual_part import visual_part_scores
from heedful.rationale.features.verbal import NONE, PhraseClassifier, abstract, render
from heedful.rationale.features.visual import VisualFile


def scored(name: str, phrases: list[str | None], dev) -> str:
    hyps = [f"x；{p}。y。z。" if p else "x。y。z。" for p in phrases]
    s = visual_part_scores(hyps, [d.rationale for d in dev])
    return (
        f"| {name} | {s['visual_rouge_l']:.3f} | {s['visual_meteor']:.3f} | {s['visual_precision']:.2f} / "
        f"{s['visual_recall']:.2f} / {s['visual_f1']:.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared/data/mecr"))
    parser.add_argument("--top", type=int, default=24)
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "train_visual.npz").is_file():
        print(f"skipped: no research data in {data}", file=sys.stderr)
        return 0
    cfg = DataConfig(data=str(data / "train.json"))
    frames = VisualFile(data / "train_visual.npz")
    train = [s for s in load_split(cfg.with_split("train")).samples if s.rationale]
    dev = [s for s in load_split(cfg.with_split("dev")).samples if s.rationale]
    clf = PhraseClassifier.fit(train, frames.for_samples(train), top=args.top)
    dev_frames = frames.for_samples(dev)
    probs = clf.probabilities(dev, dev_frames)
    some = [i for i, c in enumerate(clf.classes) if c != NONE]
    forced = [render(s, clf.classes[some[int(np.argmax(p[some]))]]) for s, p in zip(dev, probs, strict=True)]
    common = max(some, key=lambda i: sum(abstract(s, s.rationale.visual or "") == clf.classes[i] for s in train))
    rng = np.random.default_rng(0)
    pool = [s.rationale.visual for s in train if s.rationale.visual]
    n_vis = sum(bool(s.rationale.visual) for s in dev)
    print(
        f"train {len(train)} / dev {len(dev)} samples ({n_vis} dev references with a visual stimulus); "
        f"{len(clf.classes) - 1} phrase classes + none"
    )
    print("| visual part on dev | ROUGE-L | METEOR | emits: precision / recall / F1 |")
    print("|---|---|---|---|")
    print(scored("classifier (none wins: no part)", clf.predict(dev, dev_frames), dev))
    print(scored("classifier, best phrase always", forced, dev))
    print(
        scored(
            f"always the most frequent phrase ({clf.classes[common]})",
            [render(s, clf.classes[common]) for s in dev],
            dev,
        )
    )
    print(scored("a random training phrase", [pool[i] for i in rng.integers(0, len(pool), len(dev))], dev))
    from sklearn.metrics import roc_auc_score

    has = [bool(s.rationale.visual) for s in dev]
    none = clf.classes.index(NONE)
    print(
        f"whether a visual stimulus exists, from the frames: ROC AUC "
        f"{roc_auc_score(has, 1 - probs[:, none]):.3f} (chance 0.5)"
    )
    # what `rationale train --scene-line` would write: lines on dev, and cross-fitted lines on the training prompts
    lines = sum(p is not None for p in clf.predict(dev, dev_frames))
    crossed = sum(p is not None for p in PhraseClassifier.cross_fit(train, frames.for_samples(train), top=args.top))
    print(f"--scene-line prompts with a 画面 line: dev {lines} of {len(dev)}, training (cross-fitted) {crossed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
