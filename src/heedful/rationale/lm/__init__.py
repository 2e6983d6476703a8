"""The rationale language model: a frozen causal LM with gated cross-attention on ``h_change`` (route 1), LoRA,
retrieved examples in the prompt (route 2), vocabulary trimming, its trainer and batched / MBR generation.

Names are imported on first use (PEP 562), so ``heedful.rationale.lm.config`` stays torch-free for the CLI."""

from importlib import import_module

_WHERE = {
    "GenerateConfig": "config",
    "LMTrainConfig": "config",
    "InjectConfig": "inject",
    "LoraSettings": "model",
    "RationaleLM": "model",
    "RationaleLMConfig": "model",
    "load_rationale_lm": "model",
    "generate_rationales": "generate",
    "load_lm": "loader",
    "predict_pipeline": "pipeline",
    "train_pipeline": "pipeline",
    "train_lm": "train",
    "VocabMap": "vocab",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
