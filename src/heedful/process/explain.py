"""Attention you can see: slide a trained attention-pooling model along a whole test run.

Row r of the picture is the window ending at step e_r; its attention weights are placed at their absolute
time steps (columns), so the picture shows, for every moment, which past steps the classifier looked at.
After a fault starts, a model that has learned the fault concentrates its attention on the post-onset steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heedful.errors import InputError
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
        raise InputError(f"model {config['model']!r} has no attention to show; train a *_attn model")
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


def explain_run(run_dir: str | Path, out_png: str | Path, fault: int | None = None, sample: int = 0) -> dict:
    """Dispatch on the run's task: fault-onset timelines (``tep_faults``, ``pen_faults``, needing ``fault``) or a
    Seq2Seq attention matrix for test sample ``sample`` (``pen_forecast``, ``pen_softsensor``)."""
    from heedful.process.runner import load_trained

    config_task = _run_task(run_dir)
    if config_task == "tep_faults":
        if fault is None:
            raise InputError("explain: tep_faults needs --fault F")
        return explain_tep_run(run_dir, fault, out_png)
    data, model, config = load_trained(run_dir)
    if data.name == "pen_faults":
        if fault is None:
            raise InputError("explain: pen_faults needs --fault F (1-8)")
        return _explain_pen_faults(data, model, config, fault, out_png)
    if config["model"] == "seq2seq_attn":
        return _explain_seq2seq(data, model, config, sample, out_png)
    raise InputError(
        f"nothing to explain for {config['model']} on {data.name}: explain shows attention pooling on fault tasks "
        "and seq2seq_attn on pen_forecast / pen_softsensor"
    )


def _run_task(run_dir) -> str:
    from heedful.runs import read_json

    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"not a run folder: {run_dir} (config.json missing)")
    return read_json(path)["task"]


def _explain_pen_faults(data, model, config, fault: int, out_png) -> dict:
    from heedful.process.sources import indpensim as ip
    from heedful.process.tasks import task_config
    from heedful.process.tasks.pen_data import channel_index, load_batches
    from heedful.viz import attention_heatmap

    if not config["model"].endswith("_attn"):
        raise InputError(f"model {config['model']!r} has no attention to show; train a *_attn model")
    if fault not in range(1, 9):
        raise InputError(f"IndPenSim fault must be 1-8, got {fault}")
    batches = load_batches(task_config("pen_faults", **config["task_params"]), progress=False)
    test_ids = [int(i) for i in np.unique(data.test.run) if batches[int(i)].spec.fault == fault]
    if not test_ids:
        raise InputError(f"no test batch has fault {fault}; generate more batches (--batches)")
    batch = batches[test_ids[0]]
    window, onset = int(data.params["window"]), batch.spec.fault_onset
    active = np.nonzero(batch.fault)[0]
    lo, hi = max(0, onset - 2 * window), min(len(batch.values), onset + 3 * window)
    ends = window_ends(hi, window, 1, first_end=lo + window)
    x = data.scaler.transform(sliding_windows(batch.values[:, channel_index(data.feature_names)], ends, window))
    pred, weights = predict(model, x)
    grid = attention_timeline(weights, ends, len(batch.values))[:, lo:hi]
    chosen = (ends > onset) & (ends - window < onset) & (pred == fault)
    attention_heatmap(
        grid,
        out_png,
        windows=[(onset - lo, min(int(active[-1]) + 1, hi) - lo, f"fault {fault}: {ip.FAULTS[fault]}")],
        x_labels=[str(t) for t in range(lo, hi)],
        y_labels=[f"{e} ({data.class_names[int(c)]})" for e, c in zip(ends, pred, strict=True)],
        title=f"{config['model']} on IndPenSim test batch (seed {batch.spec.seed}), fault {fault} at step {onset}",
        xlabel="time step (12 min)",
        ylabel="window end (prediction)",
    )
    return _onset_summary(grid, ends, onset, lo, window, chosen, pred, data.class_names)


def _onset_summary(grid, ends, onset, lo, window, chosen, pred, names) -> dict:
    return {
        "post_onset_attention": float(grid[chosen][:, onset - lo :].sum(1).mean()) if chosen.any() else 0.0,
        "post_onset_share": float(((ends[chosen] - onset) / window).mean()) if chosen.any() else 0.0,
        "windows": int(chosen.sum()),
        "predictions_after_onset": {
            names[int(c)]: int(n) for c, n in zip(*np.unique(pred[ends > onset], return_counts=True), strict=True)
        },
    }


def _explain_seq2seq(data, model, config, sample: int, out_png) -> dict:
    from heedful.viz import attention_heatmap

    test = data.test
    if not 0 <= sample < len(test):
        raise InputError(f"sample must lie in [0, {len(test)}), got {sample}")
    length = int(test.lengths[sample]) if test.lengths is not None else test.x.shape[1]
    x = test.x[sample : sample + 1, :length]
    _, weights = predict(model, x, kind=data.kind)
    w = weights[0]  # (steps, source steps)
    windows = None
    every = int(data.params.get("every", 1))
    if data.name == "pen_softsensor":
        windows = _phase_windows(config, int(test.run[sample]), every, length)
    attention_heatmap(
        w,
        out_png,
        windows=windows,
        title=f"seq2seq_attn on {data.name}, test sample {sample}: decoder step × input step",
        xlabel=f"input step ({12 * every} min)",
        ylabel="output step",
    )
    own = np.abs(np.arange(w.shape[1])[None, :] - np.arange(w.shape[0])[:, None]) if w.shape[0] == w.shape[1] else None
    return {
        "shape": list(w.shape),
        "mean_distance_from_own_step": float((w * own).sum(1).mean()) if own is not None else None,
        "attention_on_last_input_step": float(w[:, -1].mean()),
    }


def _phase_windows(config, batch_index: int, every: int, length: int):
    from heedful.process.sources import indpensim as ip
    from heedful.process.tasks import task_config
    from heedful.process.tasks.pen_data import downsample, load_batches

    batch = load_batches(task_config(config["task"], **config["task_params"]), progress=False)[batch_index]
    phase = downsample(batch.phase, every)[:length]
    spans, start = [], 0
    for t in range(1, length + 1):
        if t == length or phase[t] != phase[start]:
            if phase[start] == 2:
                spans.append((start, t, ip.PHASES[2]))
            start = t
    return spans or None
