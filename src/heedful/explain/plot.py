"""The deletion / insertion curves of a faithfulness result as one small PNG (two panels)."""

from __future__ import annotations

import os
from pathlib import Path

COLORS = {"attention": "tab:blue", "integrated_gradients": "tab:orange", "input_x_gradient": "tab:green",
          "random": "tab:gray"}  # fmt: skip


YLABEL = {
    "classification": "drop of p(predicted class)",
    "regression": "mean |change of outputs| (std)",
    "likelihood": "drop of log p(generated text) per token",
}


def deletion_plot(result: dict, path: str | os.PathLike, title: str | None = None) -> Path:
    """Left: deletion (top k% removed), right: insertion (only the top k% kept); y: the drop (how far the prediction
    moved, ``faithfulness`` module doc). A faithful ranking rises fast on the left and falls fast on the right; the
    legend gives each curve's area (the ``auc`` of the result)."""
    from heedful.viz import new_figure, save_atomically

    xs = [100 * f for f in result["fractions"]]
    fig = new_figure(8.0, 3.2 + (0.3 if title else 0.0))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, curve, label in zip(axes, ("deletion", "insertion"), ("removed", "kept"), strict=True):
        for method, curves in result["curves"].items():
            ys = curves[curve]
            auc = result["auc"][method][curve]
            ax.plot(xs, ys, marker="o", ms=3, color=COLORS.get(method), label=f"{method} (AUC {auc:.3f})")
        ax.set_xlabel(f"top k% of {result.get('units', 'time steps')} {label}")
        ax.set_title(curve, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel(YLABEL[result["kind"]])
    if title:
        fig.suptitle(title, fontsize=10)
    return save_atomically(fig, path)
