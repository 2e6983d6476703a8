"""The run's LoRA in PEFT's own folder layout, so ``PeftModel.from_pretrained(base, RUN/lora)`` opens it.

heedful trains LoRA inside decoder layers that ``ConditionedLM`` wraps (``…layers.12.layer.self_attn…``) and keeps
it in ``adapter.safetensors`` next to the fusion weights. PEFT expects the base model's own names, prefixed with
``base_model.model.``, without the adapter name, plus an ``adapter_config.json``. The LoRA acts on hidden states, so
the exported adapter works with the untrimmed base and its own tokenizer; the gated cross-attention and the graph
are not part of it (a PEFT user gets the LoRA-only model).
"""

from __future__ import annotations

import re
from pathlib import Path

from heedful.runs import atomic_folder

FOLDER = "lora"
_WRAPPED = re.compile(r"\.(\d+)\.layer\.")


def peft_name(name: str, adapter: str = "default") -> str:
    """``model.layers.3.layer.self_attn.q_proj.lora_A.default.weight`` →
    ``base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight``."""
    return "base_model.model." + _WRAPPED.sub(r".\1.", name).replace(f".{adapter}.", ".")


def lora_tensors(model) -> dict:
    """The LoRA weights of a ``RationaleLM``'s language model, under PEFT's names."""
    return {
        peft_name(n): p.detach().contiguous().cpu()
        for n, p in model.clm.lm.named_parameters()
        if ".lora_A." in n or ".lora_B." in n
    }


def save_peft_lora(model, folder: str | Path, base: str | None) -> Path | None:
    """Write ``folder/lora`` (adapter_config.json + adapter_model.safetensors) atomically; None for a model without
    LoRA (zero-shot). ``base``: the base LM's path, recorded as ``base_model_name_or_path``."""
    from peft import LoraConfig
    from safetensors.torch import save_file

    from heedful.rationale.lm.model import lora_pattern

    tensors = lora_tensors(model)
    if not tensors:
        return None
    lora = model.cfg.lora
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_pattern(model.clm, model.clm.first_layer),
        bias="none",
        task_type="CAUSAL_LM",
        base_model_name_or_path=base,
    )

    def write(tmp: Path) -> None:
        config.save_pretrained(str(tmp))
        save_file(tensors, str(tmp / "adapter_model.safetensors"), metadata={"format": "pt"})

    return atomic_folder(Path(folder) / FOLDER, write)
