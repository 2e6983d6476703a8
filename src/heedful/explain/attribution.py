"""Gradient attributions per time step, computed by Captum (integrated gradients, input × gradient).

The attributed scalar is the quantity the deletion curves track:
- classification: the probability of the class predicted on the intact input;
- regression: the prediction's signed distance from the training mean, Σ_k sign(ŷ_k) f_k(x), signs frozen at the
  intact input (outputs are standardised, so 0 is the training mean);
- likelihood: the mean log-probability per token of the generated text.
Integrated gradients start from the removal baseline (every step at the training mean), so a step's attribution
estimates what removing it costs. Per step, attributions are summed over channels, keeping their sign: steps that
support the prediction rank first, steps that argue against it last.
"""

from __future__ import annotations

import torch
from torch import Tensor

from heedful.errors import MissingExtra
from heedful.explain.model import Explainable
from heedful.explain.perturb import BASELINE


def step_attributions(
    model: Explainable,
    x: Tensor,
    lengths: Tensor,
    reference: Tensor,
    method: str,
    ig_steps: int,
    batch_size: int,
    rows: Tensor | None = None,
) -> Tensor:
    """(B, T) signed attribution per step. ``reference``: predicted class ids (B,) for classification, the intact
    outputs (B, ...) otherwise. ``rows``: the samples' indices (default 0..B-1), passed on to ``model``."""
    try:
        from captum.attr import InputXGradient, IntegratedGradients
    except ImportError:
        raise MissingExtra("explain", "captum") from None

    scalar = _scalar(model)
    rows = torch.arange(len(x)) if rows is None else rows
    parts = []
    chunks = (t.split(batch_size) for t in (x, lengths, reference, rows))
    for xs, ls, ref, rs in zip(*chunks, strict=True):
        xs = xs.clone().requires_grad_(True)
        if model.kind == "classification":
            extra, target = (ls, rs), ref
        elif model.kind == "likelihood":
            extra, target = (ls, rs), None
        else:
            extra, target = (ls, rs, ref.flatten(1).sign()), None
        with torch.enable_grad():
            if method == "integrated_gradients":
                attr = IntegratedGradients(scalar).attribute(
                    xs,
                    baselines=BASELINE,
                    target=target,
                    additional_forward_args=extra,
                    n_steps=ig_steps,
                    internal_batch_size=batch_size,
                )
            else:
                attr = InputXGradient(scalar).attribute(xs, target=target, additional_forward_args=extra)
        parts.append(attr.detach().sum(-1))  # (b, T): signed, summed over channels
    return torch.cat(parts)


def _scalar(model: Explainable):
    if model.kind == "classification":

        def probabilities(x: Tensor, lengths: Tensor, rows: Tensor) -> Tensor:
            return model(x, lengths, rows)[0].softmax(-1)  # (B, K); Captum picks the target column

        return probabilities

    if model.kind == "likelihood":

        def log_likelihood(x: Tensor, lengths: Tensor, rows: Tensor) -> Tensor:
            return model(x, lengths, rows)[0].reshape(-1)  # (B,)

        return log_likelihood

    def signed_distance(x: Tensor, lengths: Tensor, rows: Tensor, sign: Tensor) -> Tensor:
        return (model(x, lengths, rows)[0].flatten(1) * sign).sum(1)  # (B,)

    return signed_distance
