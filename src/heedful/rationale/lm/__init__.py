"""The rationale language model: a frozen causal LM with gated cross-attention on ``h_change`` (route 1), LoRA,
retrieved examples in the prompt (route 2), its trainer and batched generation."""

from heedful.rationale.lm.adapter import LoraSettings, RationaleLM, RationaleLMConfig, load_rationale_lm
from heedful.rationale.lm.generate import GenerateConfig, generate_rationales
from heedful.rationale.lm.inject import InjectConfig
from heedful.rationale.lm.loader import load_lm
from heedful.rationale.lm.pipeline import predict_pipeline, train_pipeline
from heedful.rationale.lm.train import LMTrainConfig, train_lm

__all__ = [
    "GenerateConfig",
    "InjectConfig",
    "LMTrainConfig",
    "LoraSettings",
    "RationaleLM",
    "RationaleLMConfig",
    "generate_rationales",
    "load_lm",
    "load_rationale_lm",
    "predict_pipeline",
    "train_lm",
    "train_pipeline",
]
