"""Configs of the change graph and its contrastive pre-training: pure Python, so the CLI builds its flags from them
without importing torch."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from heedful.errors import InputError
from heedful.fields import check_fields, param
from heedful.tracking import check_tracker

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
        check_fields(self, prefix="graph ")
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
        if not 0.0 <= self.modality_dropout < 1.0:
            raise InputError(f"graph modality_dropout must be in [0, 1), got {self.modality_dropout!r}")
        if self.visual_dim < 0:
            raise InputError(f"graph visual_dim must be >= 0, got {self.visual_dim}")

    def check_fits_memory(self) -> None:
        """Refuse sizes whose weights, gradients and Adam state (16 bytes a parameter) exceed this machine's memory
        before torch tries to allocate them (``--hidden 10**7`` asked for 400 TB)."""
        h = self.hidden
        params = self.layers * 8 * h * h + (self.text_dim + self.visual_dim + self.max_speakers + 8) * h
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # no sysconf (Windows): nothing to compare with
            return
        if 16 * params > memory:
            raise InputError(
                f"graph hidden {h} with {self.layers} layer(s) needs about {16 * params / 1e9:,.0f} GB for its weights "
                f"and optimiser state, more than this machine's {memory / 1e9:,.0f} GB"
            )

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
    log_with: str | None = param(
        None, "experiment tracker: tensorboard or mlflow (local files under the run's tracking/)"
    )

    def __post_init__(self):
        check_fields(self)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "temperature"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay}")
        check_tracker(self.log_with)
