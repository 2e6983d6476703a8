"""Faithfulness of attention: does removing what the attention points at change the prediction?

Track-agnostic: a model enters as an ``Explainable`` (``forward(x, lengths) -> (output, attention)``); the tracks
adapt theirs. ``measure_faithfulness`` gives deletion / insertion curves and their AUCs for attention, Captum's
integrated gradients and input × gradient and random rankings, ERASER comprehensiveness and sufficiency, and rank
agreement. Heavy modules (torch, captum) load on first use: ``FaithfulnessConfig`` alone is torch-free.
"""

from heedful.explain.config import METHODS, FaithfulnessConfig

_LAZY = {
    "Explainable": "heedful.explain.model",
    "measure_faithfulness": "heedful.explain.faithfulness",
    "summary_lines": "heedful.explain.faithfulness",
    "deletion_plot": "heedful.explain.plot",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'heedful.explain' has no attribute {name!r}")


__all__ = ["METHODS", "Explainable", "FaithfulnessConfig", "deletion_plot", "measure_faithfulness", "summary_lines"]
