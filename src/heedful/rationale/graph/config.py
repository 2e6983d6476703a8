"""Configs of the change graph and its contrastive pre-training: pure Python, so the CLI builds its flags from them
without importing torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from heedful.errors import InputError
from heedful.fields import param

CONVS = ("gatv2", "rgcn")
FUSIONS = ("sum", "gated")


@dataclass(kw_only=True)
class GraphConfig:
    text_dim: int = param(384, "utterance feature size (the text encoder's dimension)")
    hidden: int = param(128, "hidden size of the graph layers")
    layers: int = param(2, "graph layers")
    conv: str = param("gatv2", "graph layer: gatv2 or rgcn")
    heads: int = param(4, "GATv2 attention heads (hidden must be divisible by them)")
    dropout: float = param(0.1, "dropout in [0, 1)")
    max_speakers: int = param(8, "speaker roles (the changing speaker, then the others in order)")
    visual_dim: int = param(0, "visual feature size per utterance (0: none)")
    fusion: str = param("gated", "text + visual node input: sum, or gated (a sigmoid gate per node and channel)")
    modality_dropout: float = param(0.0, "training: share of nodes whose visual input is zeroed")

    def __post_init__(self):
        for name in ("text_dim", "hidden", "layers", "heads", "max_speakers", "visual_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"graph {name} must be an integer, got {type(value).__name__}")
        if not isinstance(self.dropout, int | float) or isinstance(self.dropout, bool):
            raise InputError(f"graph dropout must be a number, got {type(self.dropout).__name__}")
        for name in ("text_dim", "hidden", "layers", "heads", "max_speakers"):
            if getattr(self, name) < 1:
                raise InputError(f"graph {name} must be >= 1, got {getattr(self, name)}")
        if self.conv not in CONVS:
            raise InputError(f"graph conv must be one of {', '.join(CONVS)}, got {self.conv!r}")
        if self.conv == "gatv2" and self.hidden % self.heads:
            raise InputError(f"graph hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"graph dropout must be in [0, 1), got {self.dropout}")
        if self.fusion not in FUSIONS:
            raise InputError(f"graph fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if not isinstance(self.modality_dropout, int | float) or not 0.0 <= self.modality_dropout < 1.0:
            raise InputError(f"graph modality_dropout must be in [0, 1), got {self.modality_dropout!r}")
        if self.visual_dim < 0:
            raise InputError(f"graph visual_dim must be >= 0, got {self.visual_dim}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(kw_only=True)
class ContrastiveConfig:
    epochs: int = param(30, "passes over the train split")
    batch_size: int = param(64, "samples per batch (the others in a batch are the negatives)")
    lr: float = param(2e-3, "peak learning rate (one-cycle schedule)")
    weight_decay: float = param(1e-2, "AdamW weight decay")
    temperature: float = param(0.05, "InfoNCE temperature")
    seed: int = param(0, "initialisation and batch-order seed")

    def __post_init__(self):
        for name in ("epochs", "batch_size", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"{name} must be an integer, got {type(value).__name__}")
        for name in ("lr", "weight_decay", "temperature"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise InputError(f"{name} must be a number, got {type(value).__name__}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "weight_decay", "temperature"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"{name} must be a finite number, got {getattr(self, name)}")
        for name in ("lr", "temperature"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay}")
