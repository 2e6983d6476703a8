"""How much of the IndPenSim quality grade the online sensors carry: whole-batch regressors of the final penicillin,
thresholded into A / B / C, over several split seeds, with and without the off-line states.

Same batches and splits as ``heedful process compare --task pen_quality`` (``--batches``, seeds 0..``--seeds``-1;
training and validation batches together fit each model). Rows:

- ``ridge``: ridge (alpha by cross-validation) on each online channel's mean, integral, last value and hourly values
  of the first 200 h;
- ``gradient boosting``: scikit-learn's histogram gradient boosting on the features of the CLI's ``boosting``
  baseline (``segment_summary``: channel means of ``--segments`` equal stretches of the batch, the last values, the
  standard deviations and the length), here on the raw 12-minute values;
- the same two with the off-line states added (biomass, substrate, viscosity, PAA, NH3; *not* penicillin), which a
  plant measures only in the lab: an upper bound of what better online modelling could reach.

    .venv/bin/python benchmarks/pen_quality_ceiling.py [--batches 200] [--seeds 5] [--segments 16] [--cache DIR]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import RidgeCV

from heedful.process.baselines import segment_summary
from heedful.process.config import PenQualityConfig
from heedful.process.sources import indpensim as ip
from heedful.process.tasks.pen_classify import quality_class
from heedful.process.tasks.pen_data import load_batches, pad, split_indices

OFFLINE = [s for s in ip.STATES if s != "penicillin"]


def ridge_features(batches, names) -> np.ndarray:
    idx = [ip.CHANNELS.index(n) for n in names]
    rows = []
    for b in batches:
        v = b.values[:, idx].astype(np.float64)
        hourly = v[4:1000:5]  # hours 1..200: every batch is at least 200 h long
        rows.append(np.concatenate([v.mean(0), v.sum(0) * ip.STEP_HOURS, v[-1], hourly.ravel(), [len(v)]]))
    return np.array(rows)


def boosting_features(batches, names, segments: int) -> np.ndarray:
    """The CLI ``boosting`` baseline's features (``segment_summary``), on the raw 12-minute values."""
    idx = [ip.CHANNELS.index(n) for n in names]
    x, lengths = pad([b.values[:, idx].astype(np.float64) for b in batches])
    return segment_summary(x, lengths, segments)


def ridge():
    return RidgeCV(alphas=np.logspace(-2, 5, 30))


def boosting():
    return HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--segments", type=int, default=16)
    ap.add_argument("--cache", default=None, help="IndPenSim batch cache (default: heedful's)")
    args = ap.parse_args()
    cfg = PenQualityConfig(batches=args.batches, cache=args.cache)
    batches = load_batches(cfg)
    final = np.array([b.channel("penicillin")[-1] for b in batches], dtype=np.float64)
    truth = quality_class(final, cfg.thresholds)
    online = list(ip.ONLINE)
    rows = [
        ("ridge, online sensors", ridge, ridge_features(batches, online), True),
        ("gradient boosting, online sensors", boosting, boosting_features(batches, online, args.segments), False),
        ("ridge, online + off-line states", ridge, ridge_features(batches, online + OFFLINE), True),
        ("gradient boosting, online + off-line states", boosting,
         boosting_features(batches, online + OFFLINE, args.segments), False),
    ]  # fmt: skip
    print(f"## IndPenSim quality: {args.batches} batches, split seeds 0..{args.seeds - 1}, test accuracy per seed")
    near = float(np.mean(np.abs(final - cfg.thresholds[1]) < 1.0))
    print(f"{near:.0%} of the batches end within 1 g/L of the A/B boundary ({cfg.thresholds[1]:g} g/L)")
    print("| model | accuracy per seed | mean accuracy | final penicillin MAE g/L |")
    print("|---|---|---|---|")
    for name, make, x, scale in rows:
        accs, maes = [], []
        for seed in range(args.seeds):
            train, val, test = split_indices(len(batches), PenQualityConfig(batches=args.batches, split_seed=seed))
            fit = np.concatenate([train, val])
            mu, sd = (x[fit].mean(0), x[fit].std(0) + 1e-9) if scale else (0.0, 1.0)
            pred = make().fit((x[fit] - mu) / sd, final[fit]).predict((x[test] - mu) / sd)
            accs.append(float(np.mean(quality_class(pred, cfg.thresholds) == truth[test])))
            maes.append(float(np.abs(pred - final[test]).mean()))
        per_seed = " / ".join(f"{a:.1%}" for a in accs)
        print(f"| {name} | {per_seed} | {np.mean(accs):.1%} | {np.mean(maes):.2f} |")


if __name__ == "__main__":
    main()
