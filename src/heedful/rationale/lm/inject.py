"""Gated cross-attention injected into the decoder layers of a Hugging Face causal LM.

Each chosen decoder layer is replaced by a ``ConditionedLayer`` that first lets the hidden states attend to the
condition tokens (``GatedCrossAttention``, zero-init tanh gates: a fresh wrapper changes nothing), then runs the
original layer. The condition lives in a ``ConditionState`` shared by the wrappers and is set through
``ConditionedLM.condition(...)``, a context manager, so ``generate()`` (KV cache, beam search) needs no new
arguments: with a cache each step only brings the new tokens, and cross-attention needs nothing from the past.
Beam search and ``num_return_sequences`` repeat each row, so a condition of batch B serves B·k rows.

Condition tokens (``ConditionTokens``): K latents projected from ``h_change`` plus the graph's per-node states, each
with a learned kind embedding, with their padding mask. Several tokens, not one: over a single key the softmax is
always 1 and the block degenerates to adding a vector (the seed draft's flaw).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from heedful.attention.gated import GatedCrossAttention
from heedful.errors import InputError


@dataclass(frozen=True)
class Family:
    layers: str  # attribute path of the decoder-layer ModuleList
    attn: str  # attribute of the self-attention module inside a decoder layer
    proj: tuple[str, ...]  # its projection Linear layers (LoRA targets)
    embeds_direct: bool = True  # inputs_embeds reach layer 0 unchanged (the lower-layer cache relies on it)


_LLAMA_LIKE = Family("model.layers", "self_attn", ("q_proj", "k_proj", "v_proj", "o_proj"))
FAMILIES: dict[str, Family] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "gemma3_text": _LLAMA_LIKE,
    "gemma": Family("model.layers", "self_attn", _LLAMA_LIKE.proj, embeds_direct=False),  # scales inputs_embeds
    "gemma3": Family("model.language_model.layers", "self_attn", _LLAMA_LIKE.proj),
    "phi3": Family("model.layers", "self_attn", ("qkv_proj", "o_proj")),
    "gpt2": Family("transformer.h", "attn", ("c_attn", "c_proj"), embeds_direct=False),  # adds positions
    "gpt_neox": Family("gpt_neox.layers", "attention", ("query_key_value", "dense")),
    "opt": Family("model.decoder.layers", "self_attn", ("q_proj", "k_proj", "v_proj", "out_proj"), False),
}


def family_of(model: nn.Module) -> Family:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in FAMILIES:
        raise InputError(f"unknown layer family {model_type!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[model_type]


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    module = model
    for name in family_of(model).layers.split("."):
        module = getattr(module, name)
    return module


def default_layers(n_layers: int) -> tuple[int, ...]:
    """A few middle-to-upper layers (1/2, 2/3, 5/6 of the depth): the lower half stays frozen and cacheable."""
    return tuple(sorted({min(n_layers - 1, round(n_layers * f)) for f in (1 / 2, 2 / 3, 5 / 6)}))


@dataclass
class InjectConfig:
    layers: tuple[int, ...] | None = None  # None: default_layers(depth)
    cond_dim: int = 128  # the graph encoder's hidden size
    n_latents: int = 8
    heads: int = 4
    ff_mult: int = 2
    visual_dim: int = 0  # > 0: one more condition token per utterance, projected from its frame features
    gate_init: float = 0.0  # initial tanh-gate parameter (0: the wrapped LM starts exactly unchanged)
    # rescale each branch to the residual stream's size before its gate (tanh(gate) = relative size of the update);
    # without it a gate cannot open far enough to matter in an LM with a large residual (docs/rationale-lm.md)
    gate_scale: str = "residual"  # residual | none
    freeze_gates: bool = False  # keep every gate at gate_init (an experiment: the LM must live with the condition)

    def __post_init__(self):
        if self.layers is not None:
            self.layers = tuple(int(i) for i in self.layers)
        for name in ("cond_dim", "n_latents", "heads", "ff_mult"):
            if getattr(self, name) < 1:
                raise InputError(f"inject {name} must be >= 1, got {getattr(self, name)}")
        if self.visual_dim < 0:
            raise InputError(f"inject visual_dim must be >= 0, got {self.visual_dim}")
        if self.gate_scale not in ("residual", "none"):
            raise InputError(f"inject gate_scale must be residual or none, got {self.gate_scale!r}")
        if not -1.0 < self.gate_init < 1.0:  # NaN fails this too
            raise InputError(f"inject gate_init must be in (-1, 1), got {self.gate_init}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ConditionState:
    """What the wrapped layers read: condition tokens (B, N, D), mask (B, N), and recorded attention weights."""

    tokens: Tensor | None = None
    mask: Tensor | None = None
    record: bool = False
    weights: dict[int, list[Tensor]] = field(default_factory=dict)

    def for_rows(self, rows: int) -> tuple[Tensor, Tensor | None]:
        b = self.tokens.shape[0]
        if rows == b:
            return self.tokens, self.mask
        if rows % b:
            raise InputError(f"condition has batch {b}, but the LM runs {rows} rows")
        k = rows // b  # beams / return sequences: rows of one sample are contiguous
        mask = None if self.mask is None else self.mask.repeat_interleave(k, 0)
        return self.tokens.repeat_interleave(k, 0), mask


class ConditionedLayer(nn.Module):
    """Gated cross-attention over the condition tokens, then the original decoder layer (torchtune's
    ``FusionLayer`` pattern): the wrapped layer keeps its state-dict names (``...layers.9.self_attn...``, not
    ``...layers.9.layer.self_attn...``) through a pair of hooks, so the LM's own checkpoints load into the wrapped
    model and back; the new parameters are listed by ``fusion_params``."""

    def __init__(self, layer: nn.Module, xattn: GatedCrossAttention, index: int, state: ConditionState):
        super().__init__()
        self.layer, self.xattn, self.index = layer, xattn, index
        self.condition_state = state  # shared by the wrapped layers; set by ``ConditionedLM.condition``
        self._register_state_dict_hook(ConditionedLayer._original_names)
        self._register_load_state_dict_pre_hook(ConditionedLayer._wrapped_names, with_module=True)

    @staticmethod
    def _original_names(module, state_dict, prefix, local_metadata):
        for key in [k for k in state_dict if k.startswith(prefix + "layer.")]:
            state_dict[prefix + key[len(prefix + "layer.") :]] = state_dict.pop(key)

    def _wrapped_names(self, state_dict, prefix, *args):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            rest = key[len(prefix) :]
            if not rest.startswith(("layer.", "xattn.")):
                state_dict[prefix + "layer." + rest] = state_dict.pop(key)

    def fusion_params(self) -> list[nn.Parameter]:
        return list(self.xattn.parameters())

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:  # e.g. ``attention_type``, read by some HF models from each layer
            return getattr(super().__getattr__("layer"), name)

    def forward(self, hidden_states: Tensor, *args, **kwargs):
        state = self.condition_state
        if state.tokens is not None:
            tokens, mask = state.for_rows(hidden_states.shape[0])
            hidden_states, weights = self.xattn(hidden_states, tokens.to(hidden_states.dtype), mask, state.record)
            if state.record:
                state.weights.setdefault(self.index, []).append(weights.detach())
        return self.layer(hidden_states, *args, **kwargs)


class ConditionTokens(nn.Module):
    """h_change (B, D) → K latents, + node states (B, N, D) [+ visual (B, N, V) → one frame token per utterance]
    → tokens (B, K+N[+N], D) and mask."""

    def __init__(self, dim: int, n_latents: int, visual_dim: int = 0):
        super().__init__()
        self.dim, self.n_latents = dim, n_latents
        self.latents = nn.Linear(dim, n_latents * dim)
        self.latent_pos = nn.Parameter(torch.randn(n_latents, dim) * 0.02)
        self.kind = nn.Parameter(torch.zeros(2, dim))  # latent, node
        self.norm = nn.LayerNorm(dim)
        # the raw frame of each utterance as its own token, so the LM can look at the face that matters
        self.visual = nn.Linear(visual_dim, dim) if visual_dim else None
        self.visual_kind = nn.Parameter(torch.zeros(dim)) if visual_dim else None

    def forward(
        self,
        h_change: Tensor,
        node_states: Tensor | None = None,
        node_mask: Tensor | None = None,
        visual: Tensor | None = None,
    ):
        b = h_change.shape[0]
        if h_change.dim() != 2 or h_change.shape[1] != self.dim:
            raise InputError(f"h_change: expected (B, {self.dim}), got {tuple(h_change.shape)}")
        tokens = self.latents(h_change).view(b, self.n_latents, self.dim) + self.latent_pos + self.kind[0]
        mask = torch.ones(b, self.n_latents, dtype=torch.bool, device=h_change.device)
        if node_states is not None:
            if node_states.shape[0] != b or node_states.shape[-1] != self.dim:
                raise InputError(f"node states: expected ({b}, N, {self.dim}), got {tuple(node_states.shape)}")
            node_mask = torch.ones(node_states.shape[:2], dtype=torch.bool) if node_mask is None else node_mask
            tokens = torch.cat([tokens, node_states + self.kind[1]], 1)
            mask = torch.cat([mask, node_mask.to(mask.device)], 1)
            if self.visual is not None:
                if visual is None or visual.shape[:2] != node_states.shape[:2]:
                    got = None if visual is None else tuple(visual.shape)
                    raise InputError(f"visual tokens: expected ({b}, {node_states.shape[1]}, V), got {got}")
                tokens = torch.cat([tokens, self.visual(visual) + self.visual_kind], 1)
                mask = torch.cat([mask, node_mask.to(mask.device)], 1)
        return self.norm(tokens), mask


class _Passthrough(nn.Module):
    def forward(self, hidden_states: Tensor, *args, **kwargs):
        return hidden_states


class ConditionedLM(nn.Module):
    """A causal LM with gated cross-attention before the chosen decoder layers, plus the condition-token maker."""

    def __init__(self, lm: nn.Module, cfg: InjectConfig):
        super().__init__()
        self.family = family_of(lm)
        layers = decoder_layers(lm)
        self.cfg = cfg
        self.layer_ids = cfg.layers if cfg.layers is not None else default_layers(len(layers))
        bad = [i for i in self.layer_ids if not 0 <= i < len(layers)]
        if bad or not self.layer_ids:
            raise InputError(f"inject layers {list(self.layer_ids)} outside the model's 0..{len(layers) - 1}")
        self.state = ConditionState()
        hidden = lm.config.get_text_config().hidden_size
        for i in self.layer_ids:
            block = GatedCrossAttention(
                hidden,
                cfg.cond_dim,
                num_heads=cfg.heads,
                ff_mult=cfg.ff_mult,
                gate_init=cfg.gate_init,
                residual_scale=cfg.gate_scale == "residual",
            )
            layers[i] = ConditionedLayer(layers[i], block.to(lm.dtype), i, self.state)
        self.lm = lm
        self.tokens = ConditionTokens(cfg.cond_dim, cfg.n_latents, cfg.visual_dim)

    @property
    def first_layer(self) -> int:
        return min(self.layer_ids)

    @property
    def layers(self) -> nn.ModuleList:
        return decoder_layers(self.lm)

    def blocks(self) -> list[GatedCrossAttention]:
        return [self.layers[i].xattn for i in self.layer_ids]

    def fusion_params(self) -> list[nn.Parameter]:
        """The parameters this wrapper adds to the LM: cross-attention blocks and the condition-token maker."""
        return [p for i in self.layer_ids for p in self.layers[i].fusion_params()] + list(self.tokens.parameters())

    def gates(self) -> dict[int, tuple[float, float]]:
        return {
            i: (b.attn_gate.gate.item(), b.ff_gate.gate.item())
            for i, b in zip(self.layer_ids, self.blocks(), strict=True)
        }

    @contextmanager
    def condition(self, tokens: Tensor | None, mask: Tensor | None = None, record: bool = False) -> Iterator:
        """Within the block, every forward (and ``generate``) of ``self.lm`` attends to ``tokens``."""
        saved = (self.state.tokens, self.state.mask, self.state.record)
        self.state.tokens, self.state.mask, self.state.record = tokens, mask, record
        self.state.weights = {}
        try:
            yield self.state
        finally:
            self.state.tokens, self.state.mask, self.state.record = saved

    @contextmanager
    def layers_skipped(self, skip: range) -> Iterator:
        """Layers in ``skip`` pass hidden states through unchanged (for running only the lower or upper part)."""
        layers = self.layers
        saved = {i: layers[i] for i in skip}
        try:
            for i in skip:
                layers[i] = _Passthrough()
            yield
        finally:
            for i, layer in saved.items():
                layers[i] = layer
