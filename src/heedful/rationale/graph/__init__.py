"""The emotion-change graph (PyTorch Geometric): ``h_change`` and per-node states, and its contrastive
pre-training against the rationale's text embedding.

The configs load without torch (the CLI builds its flags from them); the models load on first use."""

from importlib import import_module

from heedful.rationale.graph.config import ContrastiveConfig, GraphConfig

_LAZY = {
    "ChangeGraphEncoder": "encoder",
    "make_batch": "encoder",
    "load_aligner": "contrastive",
    "save_aligner": "contrastive",
    "pretrain": "pretrain",
}

__all__ = [
    "ChangeGraphEncoder",
    "ContrastiveConfig",
    "GraphConfig",
    "load_aligner",
    "make_batch",
    "pretrain",
    "save_aligner",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f"heedful.rationale.graph.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
