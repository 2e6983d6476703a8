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
from heedful.runs import check_out_path


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


def explain_run(run_dir: str | Path, out_png: str | Path | None, fault: int | None = None, sample: int = 0) -> dict:
    """What the run's task can show (``Task.explains``): fault-onset timelines (``tep_faults``, ``tep_sim_faults``,
    ``pen_faults``, needing ``fault``; for ``tep_sim_faults`` ``sample`` picks the fault's test run), a Seq2Seq
    attention matrix for test sample ``sample`` (``pen_forecast``, ``pen_softsensor``) or the pooling attention over
    every test batch (``pen_quality``, ``pen_endtime``). ``out_png`` None: the task's file name in the run folder.
    The summary names the picture (``picture``)."""
    from heedful.process.runner import load_trained, run_inputs

    inputs = run_inputs(run_dir)
    if out_png is not None:
        check_out_file(out_png, inputs=inputs)  # before the model loads: a bad path fails fast
    data, model, config = load_trained(run_dir)
    out_png = check_out_file(out_png or Path(run_dir) / data.task.explain_file(fault, sample), inputs=inputs)
    return {"picture": str(out_png), **data.task.explain(data, model, config, out_png, fault, sample)}


def _needs_attention(config: dict) -> None:
    if not config["model"].endswith("_attn"):
        raise InputError(f"model {config['model']!r} has no attention to show; train a *_attn model")


def _fault_class(data, fault: int) -> int:
    name = "normal" if fault == 0 else f"fault {fault}"
    if name not in data.class_names:
        known = ", ".join(c.removeprefix("fault ") for c in data.class_names)
        raise InputError(f"fault {fault} is not one of the classes this model was trained on ({known})")
    return data.class_names.index(name)


def explain_tep(data, model, config: dict, fault: int, out_png, stride: int = 2) -> dict:
    """The attention of a TEP model over the Braatz test run of ``fault``, zoomed on the onset."""
    _needs_attention(config)
    tep.check_fault(fault)
    fault_cls = _fault_class(data, fault)
    run = tep.load_run(fault, "test")
    title = f"{config['model']} on TEP test run d{fault:02d}: attention per window"
    return _tep_onset_picture(data, model, run.values, run.onset, fault, fault_cls, title, out_png, stride)


def explain_tep_sim(data, model, config: dict, fault: int, out_png, which: int = 0, stride: int = 2) -> dict:
    """The attention of a ``tep_sim_faults`` model over held-out test run ``which`` of ``fault``, zoomed on the
    onset. The run comes from the simulation cache the task was built from (nothing is simulated again)."""
    from heedful.process.sources import tepsim

    _needs_attention(config)
    if fault == 0:
        raise InputError("explain shows a fault's onset: give --fault F with F > 0 (normal runs have none)")
    fault_cls = _fault_class(data, fault)
    cfg = data.task.config(**config["task_params"])
    specs = [s for s in cfg.specs("test") if s.fault == fault]
    if not 0 <= which < len(specs):
        raise InputError(f"--sample picks a test run of fault {fault}: it must lie in [0, {len(specs)}), got {which}")
    spec = specs[which]
    (run,) = tepsim.generate([spec], cfg.cache, progress=False).runs
    if spec.onset >= len(run.values):
        raise InputError(f"test run {which} of fault {fault} (seed {spec.seed}) shut down before its onset")
    title = f"{config['model']} on simulated TEP test run IDV({fault}), seed {spec.seed}: attention per window"
    summary = _tep_onset_picture(data, model, run.values, spec.onset, fault, fault_cls, title, out_png, stride)
    return {**summary, "test_run": {"fault": fault, "seed": spec.seed, "onset": spec.onset, "samples": len(run.values)}}


def _tep_onset_picture(data, model, values, onset, fault, fault_cls, title, out_png, stride) -> dict:
    """Both TEP tasks: slide the model's windows over raw ``values`` (T, 52) from two windows before the onset to
    three after, draw their attention in absolute time with the faulty period shaded, and summarise it."""
    from heedful.viz import attention_heatmap

    window = int(data.params["window"])
    shade = onset is not None
    onset = onset if shade else len(values) // 2  # a run without a fault: zoom on its middle
    lo, hi = max(0, onset - 2 * window), min(len(values), onset + 3 * window)
    ends = window_ends(hi, window, stride, first_end=lo + window)
    x = data.task.scale(data, sliding_windows(values, ends, window))
    pred, weights = predict(model, x)
    grid = attention_timeline(weights, ends, len(values))[:, lo:hi]
    # windows that straddle the onset and are already classified as this fault: where did they look?
    chosen = (ends > onset) & (ends - window < onset) & (pred == fault_cls)
    attention_heatmap(
        grid,
        out_png,
        windows=[(onset - lo, hi - lo, f"fault {fault}")] if shade else None,
        x_labels=[str(t) for t in range(lo, hi)],
        y_labels=[f"{e} ({data.class_names[int(c)]})" for e, c in zip(ends, pred, strict=True)],
        title=title,
        xlabel="time step (3 min)",
        ylabel="window end (prediction)",
    )
    return _onset_summary(grid, ends, onset, lo, window, chosen, pred, data.class_names)


def explain_pen_faults(data, model, config: dict, fault: int, out_png) -> dict:
    from heedful.process.sources import indpensim as ip
    from heedful.process.tasks.pen_data import channel_index, load_batches
    from heedful.viz import attention_heatmap

    _needs_attention(config)
    if fault not in range(1, 9):
        raise InputError(f"IndPenSim fault must be 1-8, got {fault}")
    fault_cls = _fault_class(data, fault)
    batches = load_batches(data.task.config(**config["task_params"]), progress=False)
    test_ids = [int(i) for i in np.unique(data.test.run) if batches[int(i)].spec.fault == fault]
    if not test_ids:
        raise InputError(f"no test batch has fault {fault}; generate more batches (--batches)")
    batch = batches[test_ids[0]]
    window, onset = int(data.params["window"]), batch.spec.fault_onset
    active = np.nonzero(batch.fault)[0]
    lo, hi = max(0, onset - 2 * window), min(len(batch.values), onset + 3 * window)
    ends = window_ends(hi, window, 1, first_end=lo + window)
    x = data.task.scale(data, sliding_windows(batch.values[:, channel_index(data.feature_names)], ends, window))
    pred, weights = predict(model, x)
    grid = attention_timeline(weights, ends, len(batch.values))[:, lo:hi]
    chosen = (ends > onset) & (ends - window < onset) & (pred == fault_cls)
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


def explain_seq2seq(data, model, config: dict, sample: int, out_png, windows=None) -> dict:
    """The decoder's attention (output step × input step) on test sample ``sample``; ``windows`` are shaded."""
    from heedful.viz import attention_heatmap

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


def explain_table(data, model, config: dict, sample: int, out_png) -> dict:
    """``table`` with windows and per-step classes: the attention of windows slid along test batch ``sample`` (in
    the order of the test batches whose label changes), with every stage shaded and a summary of how much attention
    the windows straddling a change (and naming the new stage) put on the steps after it."""
    from heedful.process.tasks.table import features, load_table
    from heedful.viz import attention_heatmap

    _needs_attention(config)
    window = int(data.params["window"])
    if not window or data.kind != "classification" or not data.params["target_kind"].startswith("step_"):
        raise InputError("explain: table needs a run with --window W > 0 and --target-kind step_class")
    batches, _ = load_table(data.task.config(**config["task_params"]), report=lambda line: None)
    index = {c: i for i, c in enumerate(data.class_names)}
    changing = []
    for i in np.unique(data.test.run):
        labels = np.array([index.get(v, -1) if v is not None else -1 for v in batches[int(i)].target])
        if (np.diff(labels[labels >= 0]) != 0).any():
            changing.append((int(i), labels))
    if not 0 <= sample < len(changing):
        raise InputError(f"sample must lie in [0, {len(changing)}): the test batches whose label changes")
    i, labels = changing[sample]
    batch = batches[i]
    ends = window_ends(len(batch.values), window, 1)
    x = features(sliding_windows(batch.values, ends, window), list(data.params["masked_inputs"]), data.scaler)
    pred, weights = predict(model, x)
    grid = attention_timeline(weights, ends, len(batch.values))
    stages = _segments(labels, data.class_names)
    post, share = [], []  # per window straddling a change and naming the new stage
    for start, _, _ in stages[1:]:
        chosen = (ends > start) & (ends - window < start) & (pred == labels[start])
        post += grid[chosen][:, start:].sum(1).tolist()
        share += ((ends[chosen] - start) / window).tolist()
    attention_heatmap(
        grid,
        out_png,
        windows=stages,
        x_labels=[str(t) for t in range(len(batch.values))],
        y_labels=[f"{e} ({data.class_names[int(c)]})" for e, c in zip(ends, pred, strict=True)],
        title=f"{config['model']} on test batch {batch.name}: attention of each window; stages shaded",
        xlabel="time step",
        ylabel="window end (prediction)",
    )
    return {
        "batch": batch.name,
        "changes": [int(s[0]) for s in stages[1:]],
        "windows": len(post),
        "post_change_attention": float(np.mean(post)) if post else 0.0,
        "post_change_share": float(np.mean(share)) if share else 0.0,
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


def explain_batches(data, model, config: dict, out_png, rows, step_hours: float) -> dict:
    """Attention pooling over whole test batches (``pen_quality``, ``pen_endtime``): one row per test batch, its
    weights over the batch's own steps, rows sorted by the true target. ``rows(data, pred)`` -> (sort key (N,),
    row labels). A pooled batch of ~200 steps has small weights (uniform: 1/200), so each row is drawn relative to
    its own peak (the title says so); the summary gives raw shares."""
    from heedful.viz import attention_heatmap

    _needs_attention(config)
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
