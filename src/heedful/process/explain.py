"""Attention you can see: slide a trained attention-pooling model along a whole run or batch.

Row r of the picture is the window ending at step e_r; its attention weights are placed at their absolute
time steps (columns), so the picture shows, for every moment, which past steps the classifier looked at.
After a fault starts, a model that has learned the fault concentrates its attention on the post-onset steps.

Everything here is a function of a model, what its data is (``DataSpec`` / ``TaskData``) and arrays; the tasks
choose which run or batch to show and how raw values are scaled (``scale``); ``heedful.process.runner.explain_run``
is the entry point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.process.data import DataSpec, TaskData
from heedful.process.train import predict
from heedful.process.windows import sliding_windows, window_ends
from heedful.runs import check_out_path
from heedful.viz import attention_heatmap


def attention_timeline(weights: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """(R, W) window weights + (R,) window ends -> (R, length) matrix in absolute time, zero elsewhere."""
    r, w = weights.shape
    grid = np.zeros((r, length), dtype=np.float32)
    cols = ends[:, None] - w + np.arange(w)[None, :]
    grid[np.arange(r)[:, None], cols] = weights
    return grid


def check_out_file(path: str | Path, what: str = "--out", inputs=()) -> Path:
    """A file path to write (``heedful.runs.check_out_path``): not a folder, not one of ``inputs``."""
    return check_out_path(path, inputs, what)


def needs_attention(config: dict) -> None:
    if not config["model"].endswith("_attn"):
        raise InputError(f"model {config['model']!r} has no attention to show; train a *_attn model")


def fault_class(spec: DataSpec, fault: int) -> int:
    name = "normal" if fault == 0 else f"fault {fault}"
    if name not in spec.class_names:
        known = ", ".join(c.removeprefix("fault ") for c in spec.class_names)
        raise InputError(f"fault {fault} is not one of the classes this model was trained on ({known})")
    return spec.class_names.index(name)


def onset_picture(
    spec: DataSpec,
    model,
    values: np.ndarray,
    onset: int | None,
    fault: int,
    out_png,
    *,
    scale,
    title: str,
    xlabel: str,
    stride: int = 2,
    shade_end: int | None = None,
    shade_label: str | None = None,
) -> dict:
    """Slide the model's windows over raw ``values`` (T, variables) from two windows before the onset to three
    after, draw their attention in absolute time with the faulty period shaded (up to ``shade_end``, default the
    picture's end), and summarise it. ``scale``: raw windows -> model inputs; ``onset`` None: a run without a
    fault, zoomed on its middle."""
    fault_cls = fault_class(spec, fault)
    window = int(spec.params["window"])
    shade = onset is not None
    onset = onset if shade else len(values) // 2
    lo, hi = max(0, onset - 2 * window), min(len(values), onset + 3 * window)
    ends = window_ends(hi, window, stride, first_end=lo + window)
    pred, weights = predict(model, scale(sliding_windows(values, ends, window)))
    grid = attention_timeline(weights, ends, len(values))[:, lo:hi]
    # windows that straddle the onset and are already classified as this fault: where did they look?
    chosen = (ends > onset) & (ends - window < onset) & (pred == fault_cls)
    end = hi if shade_end is None else min(shade_end, hi)
    attention_heatmap(
        grid,
        out_png,
        windows=[(onset - lo, end - lo, shade_label or f"fault {fault}")] if shade else None,
        x_labels=[str(t) for t in range(lo, hi)],
        y_labels=[f"{e} ({spec.class_names[int(c)]})" for e, c in zip(ends, pred, strict=True)],
        title=title,
        xlabel=xlabel,
        ylabel="window end (prediction)",
    )
    return _onset_summary(grid, ends, onset, lo, window, chosen, pred, spec.class_names)


def _onset_summary(grid, ends, onset, lo, window, chosen, pred, names) -> dict:
    """Where the windows that straddle the onset looked: those already naming the fault (``chosen``) and, because
    a model may first name a look-alike fault, all of them (``straddling``, with what they named)."""
    straddling = (ends > onset) & (ends - window < onset)
    return {
        **_post_onset(grid, ends, onset, lo, window, chosen),
        "straddling": {
            **_post_onset(grid, ends, onset, lo, window, straddling),
            "predictions": _counts(pred[straddling], names),
        },
        "predictions_after_onset": _counts(pred[ends > onset], names),
    }


def _post_onset(grid, ends, onset, lo, window, rows) -> dict:
    """Mean attention of windows ``rows`` on post-onset steps, and the mean share of their steps after the onset."""
    return {
        "post_onset_attention": float(grid[rows][:, onset - lo :].sum(1).mean()) if rows.any() else 0.0,
        "post_onset_share": float(((ends[rows] - onset) / window).mean()) if rows.any() else 0.0,
        "windows": int(rows.sum()),
    }


def _counts(pred: np.ndarray, names) -> dict:
    return {names[int(c)]: int(n) for c, n in zip(*np.unique(pred, return_counts=True), strict=True)}


def explain_seq2seq(data: TaskData, model, config: dict, sample: int, out_png, windows=None) -> dict:
    """The decoder's attention (output step × input step) on test sample ``sample``; ``windows`` are shaded."""
    test = data.test
    if not 0 <= sample < len(test):
        raise InputError(f"sample must lie in [0, {len(test)}), got {sample}")
    length = int(test.lengths[sample]) if test.lengths is not None else test.x.shape[1]
    x = test.x[sample : sample + 1, :length]
    _, weights = predict(model, x, kind=data.kind)
    w = weights[0]  # (steps, source steps)
    every = int(data.params.get("every", 1))
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


def changing_batches(targets: list[np.ndarray], class_names: list[str]) -> list[tuple[int, np.ndarray]]:
    """(position, class ids per step; -1 missing) of the batches whose label changes, from their label columns."""
    index = {c: i for i, c in enumerate(class_names)}
    found = []
    for i, target in enumerate(targets):
        labels = np.array([index.get(v, -1) if v is not None else -1 for v in target])
        if (np.diff(labels[labels >= 0]) != 0).any():
            found.append((i, labels))
    return found


def stages_picture(
    spec: DataSpec, model, values: np.ndarray, labels: np.ndarray, out_png, *, scale, title: str
) -> dict:
    """Windows slid along one batch's raw ``values`` (T, inputs) with per-step class ids ``labels`` (-1 missing):
    the attention of every window, each stage shaded, and how much attention the windows straddling a change (and
    naming the new stage) put on the steps after it."""
    window = int(spec.params["window"])
    ends = window_ends(len(values), window, 1)
    pred, weights = predict(model, scale(sliding_windows(values, ends, window)))
    grid = attention_timeline(weights, ends, len(values))
    stages = _segments(labels, spec.class_names)
    post, share = [], []  # per window straddling a change and naming the new stage
    for start, _, _ in stages[1:]:
        chosen = (ends > start) & (ends - window < start) & (pred == labels[start])
        post += grid[chosen][:, start:].sum(1).tolist()
        share += ((ends[chosen] - start) / window).tolist()
    attention_heatmap(
        grid,
        out_png,
        windows=stages,
        x_labels=[str(t) for t in range(len(values))],
        y_labels=[f"{e} ({spec.class_names[int(c)]})" for e, c in zip(ends, pred, strict=True)],
        title=title,
        xlabel="time step",
        ylabel="window end (prediction)",
    )
    return {
        "changes": [int(s[0]) for s in stages[1:]],
        "windows": len(post),
        "post_change_attention": float(np.mean(post)) if post else 0.0,
        "post_change_share": float(np.mean(share)) if share else 0.0,
    }


def windows_picture(spec: DataSpec, model, values: np.ndarray, out_png, *, scale, title: str, xlabel: str) -> dict:
    """New values (T, variables), no truth: the attention of every window of ``window`` steps slid along them
    (at most about 200 rows: the stride grows with the batch), each row labelled with the window's prediction."""
    window = int(spec.params["window"])
    if len(values) < window:
        raise InputError(f"{len(values)} rows, shorter than the model's window of {window}")
    stride = max(1, (len(values) - window) // 200 + 1)
    ends = window_ends(len(values), window, stride)
    pred, weights = predict(model, scale(sliding_windows(values, ends, window)))
    if weights is None or weights.ndim != 2:
        raise InputError("this model gives no attention over its window's steps")
    grid = attention_timeline(weights, ends, len(values))
    attention_heatmap(
        grid,
        out_png,
        x_labels=[str(t) for t in range(len(values))],
        y_labels=[f"{e} ({spec.class_names[int(c)]})" for e, c in zip(ends, pred, strict=True)],
        title=title,
        xlabel=xlabel,
        ylabel="window end (prediction)",
    )
    quarter = max(1, window // 4)
    return {
        "windows": len(ends),
        "stride": stride,
        "predictions": _counts(pred, spec.class_names),
        "attention_on_last_quarter": float(weights[:, -quarter:].sum(1).mean()),  # uniform: about 0.25
    }


def _segments(labels: np.ndarray, names: list[str]) -> list[tuple[int, int, str]]:
    """Runs of one label: (start, end, name); missing labels (-1) do not start a run."""
    out, start = [], None
    for t, c in enumerate(labels):
        if c < 0:
            continue
        if start is None or c != labels[start]:
            if start is not None:
                out.append((start, t, names[int(labels[start])]))
            start = t
    out.append((start, len(labels), names[int(labels[start])]))
    return out


def explain_batches(data: TaskData, model, config: dict, out_png, rows, step_hours: float) -> dict:
    """Attention pooling over whole test batches (``pen_quality``, ``pen_endtime``): one row per test batch, its
    weights over the batch's own steps, rows sorted by the true target. ``rows(data, pred)`` -> (sort key (N,),
    row labels). A pooled batch of ~200 steps has small weights (uniform: 1/200), so each row is drawn relative to
    its own peak (the title says so); the summary gives raw shares."""
    needs_attention(config)
    test = data.test
    if len(test) == 0:
        raise InputError(f"task {data.name} has no test batches here; nothing to explain")
    pred, weights = predict(model, test.x, lengths=test.lengths, kind=data.kind)  # weights (N, T), 0 on padding
    key, labels = rows(data, pred)
    order = np.argsort(key, kind="stable")
    relative = weights / np.maximum(weights.max(1, keepdims=True), 1e-12)
    hours = step_hours * np.arange(1, weights.shape[1] + 1)
    attention_heatmap(
        relative[order],
        out_png,
        x_labels=[f"{h:g}" for h in hours],
        y_labels=[labels[i] for i in order],
        title=f"{config['model']} on {data.name}: attention over each test batch (row / its peak)",
        xlabel="hour of the batch",
        ylabel="test batch: truth -> prediction",
    )
    return pooled_summary(weights, test.lengths, step_hours)


def pooled_summary(weights: np.ndarray, lengths: np.ndarray | None, step_hours: float) -> dict:
    """Where whole-batch attention sits: the median hour of each batch's peak, the attention-weighted position
    (0 start, 1 end of the batch), how many steps it spreads over (1 / sum w^2; uniform: the batch's length) and
    the share on the batch's last 10% of steps."""
    n, t = weights.shape
    lengths = np.full(n, t) if lengths is None else np.asarray(lengths)
    steps = np.arange(t)[None, :]
    position = (weights * steps).sum(1) / np.maximum(lengths - 1, 1)
    last = steps >= (lengths - np.ceil(0.1 * lengths))[:, None]
    return {
        "batches": int(n),
        "median_batch_steps": float(np.median(lengths)),
        "peak_hour_median": float(np.median(step_hours * (weights.argmax(1) + 1))),
        "mean_position": float(position.mean()),
        "effective_steps": float((1 / (weights**2).sum(1)).mean()),
        "attention_on_last_10pct": float((weights * last).sum(1).mean()),
    }
