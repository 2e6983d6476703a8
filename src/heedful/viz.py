"""Attention plots written as PNG files: heatmaps (one panel per head) and weights over time.

matplotlib is imported inside the functions (``heedful --help`` must stay instant) and drawn through
its Agg canvas directly, never through ``pyplot``, so no global backend or figure state is touched.
Files are written atomically: a temporary file in the target folder, then ``os.replace``.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from heedful.errors import InputError

Window = tuple[float, float, str | None]  # (start, end, label): input steps [start, end)

MAX_TICKS = 40  # more labels than this are thinned so they stay readable
MAX_COLUMNS = 4  # heads per row before wrapping to a grid
WINDOW_COLOR = "tab:red"


# --- validation ----------------------------------------------------------------------------------


def as_array(x: Any) -> np.ndarray:
    """Tensor or array-like -> float64 numpy array."""
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def check_weights(weights: Any, ndims: tuple[int, ...], shape_doc: str) -> np.ndarray:
    w = as_array(weights)
    if w.ndim not in ndims:
        raise InputError(f"weights: expected shape {shape_doc}, got {w.ndim} dims {w.shape}")
    if w.size == 0:
        raise InputError(f"weights: expected a non-empty array {shape_doc}, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise InputError(f"weights: expected finite values, got {int((~np.isfinite(w)).sum())} NaN/inf entries")
    if w.min() < -1e-6 or w.max() > 1 + 1e-6:
        raise InputError(f"weights: expected attention weights in [0, 1], got range [{w.min():.3g}, {w.max():.3g}]")
    return w


def check_length(name: str, values: Sequence | None, expected: int) -> None:
    if values is not None and len(values) != expected:
        raise InputError(f"{name}: expected {expected} entries, got {len(values)}")


def check_windows(windows: Sequence[Window] | None, steps: int) -> list[Window]:
    """Each window is (start, end, label) with 0 <= start < end <= steps, in input-step coordinates."""
    checked = []
    for i, window in enumerate(windows or []):
        if len(window) != 3:
            raise InputError(f"windows[{i}]: expected (start, end, label), got {window!r}")
        start, end, label = window
        if not 0 <= start < end <= steps:
            raise InputError(f"windows[{i}]: expected 0 <= start < end <= {steps}, got start={start}, end={end}")
        checked.append((float(start), float(end), label))
    return checked


# --- drawing helpers -----------------------------------------------------------------------------


def new_figure(width: float, height: float):
    """A Figure on its own Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)
    return fig


def set_tick_labels(axis, labels: Sequence[str] | None, rotate: bool = False) -> None:
    """All labels when few, every k-th when many; integer ticks when none are given."""
    if labels is None:
        from matplotlib.ticker import MaxNLocator

        axis.set_major_locator(MaxNLocator(nbins=10, integer=True))
        return
    stride = max(1, math.ceil(len(labels) / MAX_TICKS))
    ticks = list(range(0, len(labels), stride))
    axis.set_ticks(ticks, [str(labels[t]) for t in ticks], fontsize=8, rotation=90 if rotate else 0)


def shade_windows(ax, windows: list[Window], with_text: bool = True) -> None:
    """Translucent span over steps [start, end), label written at the top inside the axes."""
    for start, end, label in windows:
        ax.axvspan(start - 0.5, end - 0.5, color=WINDOW_COLOR, alpha=0.18, linewidth=0)
        ax.axvline(start - 0.5, color=WINDOW_COLOR, linewidth=0.8)
        ax.axvline(end - 0.5, color=WINDOW_COLOR, linewidth=0.8)
        if label and with_text:
            ax.text(
                (start + end) / 2 - 0.5, 0.98, str(label), transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=8, color="white",
                bbox={"facecolor": WINDOW_COLOR, "alpha": 0.8, "linewidth": 0, "pad": 1.5},
            )  # fmt: skip


def save_atomically(fig, path: str | os.PathLike) -> Path:
    """Render to a temporary PNG next to ``path`` and move it into place."""
    from heedful.runs import atomic_write

    use_cjk_font(fig)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


# --- Chinese text --------------------------------------------------------------------------------

# font families with CJK glyphs, preferred first (Linux packages, then macOS and Windows fonts)
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Noto Sans CJK JP", "Source Han Sans",
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "PingFang SC", "Microsoft YaHei", "SimHei", "Droid Sans Fallback",
    "AR PL UMing CN",
)  # fmt: skip
CJK_FILES = ("notosanscjk", "notoserifcjk", "sourcehan", "wqy", "pingfang", "msyh", "simhei", "droidsansfallback")
_CJK_TEXT = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_cjk_font: list[str | None] = []  # the font found, once per process


def cjk_font() -> str | None:
    """The family of an installed font with Chinese glyphs, or None (with one warning per process)."""
    if not _cjk_font:
        _cjk_font.append(_find_cjk_font())
        if _cjk_font[0] is None:
            warnings.warn(
                "no CJK font installed: Chinese text in figures shows as boxes (install fonts-noto-cjk)", stacklevel=3
            )
    return _cjk_font[0]


def _find_cjk_font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    if not any(name in names for name in CJK_FAMILIES):  # installed after matplotlib cached its font list
        for path in font_manager.findSystemFonts():
            if any(part in Path(path).name.lower() for part in CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # a font file matplotlib cannot read
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in names), None)


def use_cjk_font(fig) -> None:
    """Texts of ``fig`` with Chinese characters fall back to a CJK font for the glyphs their font lacks."""
    from matplotlib.text import Text

    texts = [t for t in fig.findobj(Text) if _CJK_TEXT.search(t.get_text())]
    if not texts or (font := cjk_font()) is None:
        return
    for t in texts:
        families = [f for f in t.get_fontfamily() if f != font]
        t.set_fontfamily([*families, font])


# --- public plots --------------------------------------------------------------------------------


def attention_heatmap(
    weights: Any,
    path: str | os.PathLike,
    *,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    windows: Sequence[Window] | None = None,
    title: str | None = None,
    head_names: Sequence[str] | None = None,
    xlabel: str = "input step",
    ylabel: str = "output step",
) -> Path:
    """Write a PNG heatmap of (Tq, Tk) or (H, Tq, Tk) attention weights; returns the path.

    Rows are output (query) steps, columns input (key) steps; viridis on a fixed 0-1 scale with one
    shared colorbar; one panel per head, wrapping after four. ``windows``: (start, end, label) spans
    of input steps [start, end) to shade, e.g. a fault window.
    """
    w = check_weights(weights, (2, 3), "(Tq, Tk) or (H, Tq, Tk)")
    heads = w if w.ndim == 3 else w[None]  # (H, Tq, Tk)
    num_heads, tq, tk = heads.shape
    check_length("x_labels", x_labels, tk)
    check_length("y_labels", y_labels, tq)
    check_length("head_names", head_names, num_heads)
    spans = check_windows(windows, tk)
    if head_names is None and w.ndim == 3:
        head_names = [f"head {h}" for h in range(num_heads)]

    cols = min(num_heads, MAX_COLUMNS)
    rows = math.ceil(num_heads / cols)
    panel_w, panel_h = np.clip(0.25 * tk + 1.4, 2.6, 7.0), np.clip(0.25 * tq + 1.2, 2.2, 7.0)
    fig = new_figure(cols * panel_w + 1.0, rows * panel_h + (0.4 if title else 0.0))
    axes = fig.subplots(rows, cols, squeeze=False)
    for h, ax in enumerate(axes.flat):
        if h >= num_heads:
            ax.set_axis_off()
            continue
        image = ax.imshow(heads[h], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        set_tick_labels(ax.xaxis, x_labels, rotate=True)
        set_tick_labels(ax.yaxis, y_labels)
        shade_windows(ax, spans)
        if head_names is not None:
            ax.set_title(str(head_names[h]), fontsize=10)
        if h % cols == 0:
            ax.set_ylabel(ylabel)
        if h + cols >= num_heads:  # nothing below this panel
            ax.set_xlabel(xlabel)
    fig.colorbar(image, ax=axes.ravel().tolist(), label="attention weight", shrink=0.9)
    if title:
        fig.suptitle(title)
    return save_atomically(fig, path)


def attention_over_time(
    weights: Any,
    path: str | os.PathLike,
    signal: Any = None,
    windows: Sequence[Window] | None = None,
    *,
    title: str | None = None,
    signal_names: Sequence[str] | None = None,
    sample_names: Sequence[str] | None = None,
    xlabel: str = "time step",
) -> Path:
    """Write a PNG of attention-pooling weights per time step; returns the path.

    weights: (T,) drawn as bars, or (B, T) drawn as one line per sample. signal: optional (T,) or
    (T, C) input plotted underneath on the same time axis. ``windows``: (start, end, label) spans of
    steps [start, end) shaded on both plots — shows which steps a classifier relied on.
    """
    w = check_weights(weights, (1, 2), "(T,) or (B, T)")
    steps = w.shape[-1]
    check_length("sample_names", sample_names, w.shape[0] if w.ndim == 2 else 1)
    spans = check_windows(windows, steps)
    sig = None if signal is None else check_signal(signal, steps)  # (T, C)
    if signal_names is not None and sig is None:
        raise InputError("signal_names: expected a signal to name, got signal=None")
    check_length("signal_names", signal_names, 0 if sig is None else sig.shape[1])

    width = float(np.clip(0.06 * steps + 4.0, 6.0, 14.0))
    fig = new_figure(width, 2.6 if sig is None else 5.0)
    axes = fig.subplots(1 if sig is None else 2, 1, sharex=True, squeeze=False)[:, 0]
    draw_weights(axes[0], w, sample_names)
    shade_windows(axes[0], spans)
    if sig is not None:
        draw_signal(axes[1], sig, signal_names)
        shade_windows(axes[1], spans, with_text=False)
    axes[-1].set_xlabel(xlabel)
    axes[-1].set_xlim(-0.5, steps - 0.5)
    if title:
        fig.suptitle(title)
    return save_atomically(fig, path)


def check_signal(signal: Any, steps: int) -> np.ndarray:
    sig = as_array(signal)
    sig = sig[:, None] if sig.ndim == 1 else sig  # (T, C)
    if sig.ndim != 2 or sig.shape[0] != steps:
        raise InputError(f"signal: expected shape ({steps},) or ({steps}, C), got {tuple(as_array(signal).shape)}")
    if not np.isfinite(sig).all():
        raise InputError(f"signal: expected finite values, got {int((~np.isfinite(sig)).sum())} NaN/inf entries")
    return sig


def draw_weights(ax, w: np.ndarray, sample_names: Sequence[str] | None) -> None:
    steps = np.arange(w.shape[-1])
    if w.ndim == 1:
        ax.bar(steps, w, width=0.9, color="tab:blue", label=sample_names[0] if sample_names else None)
    else:
        for b, row in enumerate(w):
            ax.plot(
                steps, row, marker="." if len(steps) <= 60 else None, label=sample_names[b] if sample_names else None
            )
    if sample_names is not None:
        ax.legend(fontsize=8, loc="upper left")
    ax.axhline(1.0 / len(steps), color="gray", linestyle=":", linewidth=1)  # uniform attention
    ax.set_ylim(0.0, max(float(w.max()) * 1.15, 1.5 / len(steps)))
    ax.set_ylabel("attention weight")


def draw_signal(ax, sig: np.ndarray, signal_names: Sequence[str] | None) -> None:
    steps = np.arange(sig.shape[0])
    for c in range(sig.shape[1]):
        ax.plot(steps, sig[:, c], linewidth=1.2, label=None if signal_names is None else str(signal_names[c]))
    if signal_names is not None:
        ax.legend(fontsize=8, loc="upper left", ncols=min(4, sig.shape[1]))
    ax.set_ylabel("signal")
