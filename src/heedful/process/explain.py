"""Attention you can see: slide a trained attention-pooling model along a whole test run.

Row r of the picture is the window ending at step e_r; its attention weights are placed at their absolute
time steps (columns), so the picture shows, for every moment, which past steps the classifier looked at.
After a fault starts, a model that has learned the fault concentrates its attention on the post-onset steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heedful.process.sources import tep
from heedful.process.train import predict
from heedful.process.windows import sliding_windows, window_ends


def attention_timeline(weights: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """(R, W) window weights + (R,) window ends -> (R, length) matrix in absolute time, zero elsewhere."""
    r, w = weights.shape
    grid = np.zeros((r, length), dtype=np.float32)
    cols = ends[:, None] - w + np.arange(w)[None, :]
    grid[np.arange(r)[:, None], cols] = weights
    return grid


def explain_tep_run(run_dir: str | Path, fault: int, out_png: str | Path, stride: int = 2) -> dict:
    from heedful.process.runner import load_trained
    from heedful.viz import attention_heatmap

    data, model, config = load_trained(run_dir)
    if not config["model"].endswith("_attn"):
        raise ValueError(f"model {config['model']!r} has no attention to show; train a *_attn model")
    tep.check_fault(fault)
    run = tep.load_run(fault, "test")
    window = data.params["window"]
    onset = run.onset if run.onset is not None else len(run.values) // 2
    # zoom on the onset: windows before, across and after it, one per step
    lo, hi = max(0, onset - 2 * window), min(len(run.values), onset + 3 * window)
    ends = window_ends(hi, window, stride, first_end=lo + window)
    x = data.scaler.transform(sliding_windows(run.values, ends, window))
    pred, weights = predict(model, x)
    grid = attention_timeline(weights, ends, len(run.values))[:, lo:hi]
    # windows that straddle the onset and are already classified as this fault: where did they look?
    fault_cls = data.class_names.index(f"fault {fault}") if f"fault {fault}" in data.class_names else -1
    chosen = (ends > onset) & (ends - window < onset) & (pred == fault_cls)
    post_share = float(((ends[chosen] - onset) / window).mean()) if chosen.any() else 0.0
    post_attention = float(grid[chosen][:, onset - lo :].sum(1).mean()) if chosen.any() else 0.0
    windows = [(onset - lo, hi - lo, f"fault {fault}")] if run.onset is not None else None
    attention_heatmap(
        grid,
        out_png,
        windows=windows,
        x_labels=[str(t) for t in range(lo, hi)],
        y_labels=[f"{e} ({data.class_names[int(c)]})" for e, c in zip(ends, pred, strict=True)],
        title=f"{config['model']} on TEP test run d{fault:02d}: attention per window",
        xlabel="time step (3 min)",
        ylabel="window end (prediction)",
    )
    names = data.class_names
    return {
        "post_onset_attention": post_attention,
        "post_onset_share": post_share,
        "windows": int(chosen.sum()),
        "predictions_after_onset": {
            names[int(c)]: int(n) for c, n in zip(*np.unique(pred[ends > onset], return_counts=True), strict=True)
        },
    }
