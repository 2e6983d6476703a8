"""Configs of the change graph and its contrastive pre-training: pure Python, so the CLI builds its flags from them
without importing torch."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

from heedful.errors import InputError

CONVS = ("gatv2", "rgcn")
FUSIONS = ("sum", "gated")


@dataclass(kw_only=True)
class GraphConfig:
    text_dim: int = 384  # utterance feature size (the text encoder's dimension)
    hidden: int = 128  # hidden size of the graph layers
    layers: int = 2  # graph layers
    conv: str = "gatv2"  # graph layer: gatv2 or rgcn
    heads: int = 4  # GATv2 attention heads (hidden must be divisible by them)
    dropout: float = 0.1  # dropout in [0, 1)
    max_speakers: int = 8  # speaker roles (the changing speaker, then the others in order)
    visual_dim: int = 0  # visual feature size per utterance (0: none)
    fusion: str = "gated"  # text + visual node input: sum, or gated (a sigmoid gate per node and channel)
    modality_dropout: float = 0.0  # training: share of nodes whose visual input is zeroed

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
    epochs: int = 30  # passes over the train split
    batch_size: int = 64  # samples per batch (the others in a batch are the negatives)
    lr: float = 2e-3  # peak learning rate (one-cycle schedule)
    weight_decay: float = 1e-2  # AdamW weight decay
    temperature: float = 0.05  # InfoNCE temperature
    seed: int = 0  # initialisation and batch-order seed

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
