"""The demo's configs, importable without torch (the CLI builds ``heedful demo``'s flags from them)."""

from __future__ import annotations

from dataclasses import dataclass

from heedful.errors import InputError
from heedful.fields import check_fields, param
from heedful.process.config import check_at_least, tep_faults


@dataclass
class SequenceTourConfig:
    seed: int = param(0, "random seed of every part of the tour")
    epochs: int = param(6, "training epochs per model")
    batch_size: int = param(64, "samples per optimiser step")
    lr: float = param(1e-2, "Adam learning rate")
    n_train: int = param(2000, "training samples per task")
    n_test: int = param(300, "test samples per task")
    vocab: int = param(10, "reversal vocabulary size in tokens (pad, bos, eos and symbols)")
    hidden_size: int = param(64, "Seq2Seq hidden units")

    def __post_init__(self):
        check_fields(self)
        check_at_least(self, 1, "epochs", "batch_size", "n_train", "n_test", "hidden_size")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if self.vocab < 4:
            raise InputError(f"vocab must be >= 4 (pad, bos, eos and a symbol), got {self.vocab}")


@dataclass
class ProcessTourConfig:
    """The Tennessee Eastman part: a bi-GRU with attention on normal operation and a few clear faults."""

    epochs: int = param(4, "training epochs")
    hidden_size: int = param(16, "hidden units per direction")
    window: int = param(20, "window length in 3-minute samples (20 = 1 h)")
    stride: int = param(2, "samples between the starts of training windows")
    faults: tuple[int, ...] | str = param("0,1,2,4", "classes: normal and faults 1, 2, 4")
    explain_fault: int = param(4, "the fault whose onset is drawn")

    def __post_init__(self):
        self.faults = tep_faults(self.faults)
        check_fields(self)
        check_at_least(self, 1, "epochs", "hidden_size", "stride")
        if self.explain_fault not in self.faults or self.explain_fault == 0:
            raise InputError(f"explain_fault must be one of the faults {self.faults[1:]}, got {self.explain_fault}")
