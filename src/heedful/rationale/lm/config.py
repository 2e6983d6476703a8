"""The rationale LM's torch-free settings (the CLI builds its flags from them without importing torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from heedful.device_names import DEVICE_HELP, check_device_spec
from heedful.errors import InputError
from heedful.explain.config import FaithfulnessConfig
from heedful.fields import check_fields, param
from heedful.tracking import check_tracker

UTILITY_NAMES = ("rouge_l", "meteor")


def check_ints(cfg, *names: str) -> None:
    """Integer fields hold integers of at most 64 bits: torch's seeds and sizes stop there, deep inside."""
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
            raise InputError(f"{name} must be an integer of at most 64 bits, got {str(value)[:40]}")


@dataclass
class LMTrainConfig:
    epochs: int = param(2, "maximum passes over the training samples")
    batch_size: int = param(4, "training samples per forward pass")
    grad_accum: int = param(2, "forward passes per optimiser step (samples per step: batch_size x grad_accum)")
    lr: float = param(5e-4, "peak AdamW learning rate of LoRA (and of the rest without --fusion-lr), after warmup")
    fusion_lr: float | None = param(
        None, "peak learning rate of the cross-attention, its gates and the graph (None: lr)"
    )
    warmup: float = param(0.1, "fraction of the optimiser steps")
    weight_decay: float = param(0.0, "AdamW weight decay")
    patience: int = param(2, "early stopping: epochs without a lower dev loss")
    max_dev: int = param(64, "dev examples scored for early stopping")
    save_every: int = param(25, "optimiser steps between mid-epoch checkpoints")
    cache_lower: bool = param(
        True,
        "compute the frozen layers below the first injected one once per sample and reuse them (same loss, faster)",
    )
    seed: int = param(0, "seed of the batch order and of the new weights")
    log_with: str | None = param(
        None, "experiment tracker: tensorboard or mlflow (local files under the run's tracking/)"
    )
    device: str = param("auto", DEVICE_HELP)

    def __post_init__(self):
        check_fields(self)
        check_tracker(self.log_with)
        check_device_spec(self.device)
        check_ints(self, "epochs", "batch_size", "grad_accum", "patience", "max_dev", "save_every", "seed")
        for name in ("epochs", "batch_size", "grad_accum", "patience", "max_dev", "save_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.fusion_lr is not None and not self.fusion_lr > 0:
            raise InputError(f"fusion_lr must be > 0, got {self.fusion_lr}")
        if self.lr <= 0 or not 0 <= self.warmup < 1:
            raise InputError(f"need lr > 0 and warmup in [0, 1), got lr={self.lr}, warmup={self.warmup}")


STRATEGIES = ("greedy", "beam", "sample", "mbr")
MBR_SOURCES = ("sample", "beam", "both")


@dataclass
class GenerateConfig:
    strategy: str = param("greedy", "greedy | beam | sample | mbr (minimum Bayes risk over candidates)")
    beams: int = param(4, "beam width for beam search")
    temperature: float = param(0.8, "sampling temperature")
    top_p: float = param(0.95, "nucleus sampling mass")
    max_new_tokens: int = param(96, "most tokens generated per rationale")
    batch_size: int = param(8, "prompts per generation batch")
    attention: bool = param(False, "export cross-attention weights over the utterances")
    candidates: int = param(8, "mbr: generated candidates per sample")
    mbr_from: str = param("sample", "mbr: candidates from sample | beam | both (half each)")
    neighbours: bool = param(True, "mbr: add the retrieved neighbours' relabelled rationales as candidates")
    mbr_greedy: bool = param(False, "mbr: add the greedy output as a candidate")
    utility: str = param("rouge_l", "mbr: rouge_l | meteor (character level, as evaluate scores)")
    no_repeat_ngram: int = param(
        4, "forbid the generated text to repeat an n-gram of this many tokens (0: off; measured)"
    )
    repetition_penalty: float = param(1.0, "divide the logits of tokens already in the text by this (1: off)")
    int8: bool = param(
        False, "int8 weights (dynamic quantisation) for the frozen linear layers while generating (CPU only)"
    )
    seed: int = param(0, "sampling seed")
    device: str = param("auto", DEVICE_HELP)

    def __post_init__(self):
        check_fields(self)
        check_ints(self, "beams", "max_new_tokens", "batch_size", "candidates", "no_repeat_ngram", "seed")
        check_device_spec(self.device)
        if self.strategy not in STRATEGIES:
            raise InputError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.beams < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise InputError("beams, max_new_tokens and batch_size must be >= 1")
        if self.strategy in ("sample", "mbr") and not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise InputError(
                f"sampling needs temperature > 0 and top_p in (0, 1], got {self.temperature}, {self.top_p}"
            )
        if self.mbr_from not in MBR_SOURCES or self.utility not in UTILITY_NAMES:
            raise InputError(
                f"mbr_from must be one of {', '.join(MBR_SOURCES)} and utility one of {', '.join(UTILITY_NAMES)}, "
                f"got {self.mbr_from!r}, {self.utility!r}"
            )
        if self.no_repeat_ngram < 0 or not self.repetition_penalty > 0:
            raise InputError(
                f"need no_repeat_ngram >= 0 and repetition_penalty > 0, got {self.no_repeat_ngram}, "
                f"{self.repetition_penalty}"
            )
        if self.candidates < 0:
            raise InputError(f"candidates must be >= 0, got {self.candidates}")
        if self.strategy == "mbr" and self.candidates == 0 and not (self.neighbours or self.mbr_greedy):
            raise InputError("mbr with zero candidates: set candidates >= 1 or use the retrieved neighbours")

    @property
    def controls_repeats(self) -> bool:
        return bool(self.no_repeat_ngram) or self.repetition_penalty != 1.0

    def generate_kwargs(self) -> dict:
        if self.strategy == "greedy":
            return {"do_sample": False, "num_beams": 1}
        if self.strategy == "beam":
            return {"do_sample": False, "num_beams": self.beams}
        return self.sample_kwargs(1)

    def sample_kwargs(self, n: int) -> dict:
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0} | (
            {"num_return_sequences": n} if n > 1 else {}
        )

    def mbr_runs(self) -> list[tuple[int, dict]]:
        """(candidates, generate kwargs) per generation run of MBR."""
        n_beam = {"sample": 0, "beam": self.candidates, "both": self.candidates // 2}[self.mbr_from]
        n_sample = self.candidates - n_beam
        runs = [(1, {"do_sample": False, "num_beams": 1})] if self.mbr_greedy else []
        runs += [(n_sample, self.sample_kwargs(n_sample))] if n_sample else []
        if n_beam:
            runs.append((n_beam, {"do_sample": False, "num_beams": max(n_beam, 2), "num_return_sequences": n_beam}))
        return runs

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RationaleFaithfulnessConfig(FaithfulnessConfig):
    """``FaithfulnessConfig`` with defaults sized for a 270M-parameter LM on CPU (a dialogue has about ten
    utterances, so finer fractions name the same utterances)."""

    fractions: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0)
    eraser_fractions: tuple[float, ...] = param((0.1, 0.2, 0.5), "ERASER's 1% and 5% name the same utterance as 10%")
    methods: tuple[str, ...] = ("attention", "input_x_gradient", "random")
    max_samples: int = param(16, "dialogues measured (a seeded random subset of the run's predictions)")
    random_repeats: int = 2
    ig_steps: int = 8
    batch_size: int = param(4, "dialogues per forward pass")
    score_change: bool = param(True, "regenerate with the top headline fraction removed; score against the reference")
    device: str = param("auto", DEVICE_HELP)

    def __post_init__(self):
        super().__post_init__()
        check_device_spec(self.device)
