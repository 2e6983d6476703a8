"""The emotion-change graph (PyTorch Geometric): ``h_change`` and per-node states, and its contrastive
pre-training against the rationale's text embedding."""

from heedful.rationale.graph.contrastive import ContrastiveConfig, load_aligner, save_aligner
from heedful.rationale.graph.encoder import ChangeGraphEncoder, GraphConfig, make_batch
from heedful.rationale.graph.pretrain import pretrain

__all__ = [
    "ChangeGraphEncoder",
    "ContrastiveConfig",
    "GraphConfig",
    "load_aligner",
    "make_batch",
    "pretrain",
    "save_aligner",
]
