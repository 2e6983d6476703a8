"""The training forward pass, made cheap on CPU.

* Lower-layer cache: the decoder layers below the first adapted one are frozen and see a fixed prompt, so their
  output (the input of the first adapted layer) is computed once per example, without autograd, and reused every
  epoch. ``lower_states`` runs the model until that layer and stops; ``upper_hidden`` runs the rest from there,
  with the layers below swapped for pass-throughs (the model still builds masks and positions itself).
* LM head only where labels exist: the (V = 262k for Gemma) output layer runs on the rationale positions only,
  not on every prompt token: for the training loss (``label_loss``) and for the faithfulness scores
  (``mean_log_prob``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from heedful.errors import InputError
from heedful.rationale.lm.inject import ConditionedLM

IGNORE = -100


class _Captured(Exception):  # control flow: carries the captured states out
    def __init__(self, hidden: Tensor):
        self.hidden = hidden


class _Capture(nn.Module):
    def forward(self, hidden_states: Tensor, *args, **kwargs):
        raise _Captured(hidden_states)


def can_cache(clm: ConditionedLM) -> bool:
    return clm.family.embeds_direct and clm.first_layer > 0


@torch.no_grad()
def lower_states(clm: ConditionedLM, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """(B, T, D): the hidden states entering layer ``clm.first_layer``."""
    layers, first = clm.layers, clm.first_layer
    saved = layers[first]
    layers[first] = _Capture()
    try:
        clm.lm.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _Captured as stop:
        return stop.hidden
    finally:
        layers[first] = saved
    raise RuntimeError("the model never reached the first adapted layer")


def upper_hidden(clm: ConditionedLM, lower: Tensor | None, attention_mask: Tensor, input_ids: Tensor | None = None):
    """Final (normed) hidden states (B, T, D), from cached ``lower`` states when given, else from ``input_ids``."""
    base = clm.lm.base_model
    if lower is None:
        return base(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    with clm.layers_skipped(range(clm.first_layer)):
        return base(inputs_embeds=lower, attention_mask=attention_mask, use_cache=False).last_hidden_state


def head(lm: nn.Module, hidden: Tensor) -> Tensor:
    """The LM's output layer (with its logit soft-capping, if it has one) on selected rows."""
    logits = lm.get_output_embeddings()(hidden)
    cap = getattr(lm.config.get_text_config(), "final_logit_softcapping", None)
    return logits if cap is None else torch.tanh(logits / cap) * cap


def label_loss(lm: nn.Module, hidden: Tensor, labels: Tensor) -> tuple[Tensor, int]:
    """Mean next-token cross-entropy over positions whose *next* token is labelled; the head runs there only."""
    select = labels[:, 1:] != IGNORE
    n = int(select.sum())
    if n == 0:
        raise InputError("a batch without rationale tokens (every label is masked)")
    logits = head(lm, hidden[:, :-1][select])  # (n, V)
    return F.cross_entropy(logits.float(), labels[:, 1:][select]), n


def mean_log_prob(lm: nn.Module, hidden: Tensor, labels: Tensor) -> Tensor:
    """(B,) mean log-probability per labelled token; the head runs on labelled positions only."""
    select = labels[:, 1:] != IGNORE
    logits = head(lm, hidden[:, :-1][select]).float()  # (n, V)
    picked = logits.log_softmax(-1).gather(1, labels[:, 1:][select][:, None]).squeeze(1)
    row = select.nonzero()[:, 0]
    total = torch.zeros(len(labels), dtype=picked.dtype, device=picked.device).index_add(0, row, picked)
    return total / select.sum(1).clamp_min(1)
