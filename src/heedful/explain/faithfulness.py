"""Does the attention explain the prediction? Deletion / insertion curves, ERASER scores and rank agreement.

For every sample, the time steps are ranked by attention, by a gradient attribution (Captum) and at random; the
top ``fraction`` of the ranking is removed (replaced by the training mean: ``perturb``) and the prediction measured
again. One number per perturbed input, the **drop**:
- classification: p(ŷ | x) - p(ŷ | x'), ŷ the class predicted on the intact input;
- regression: mean_k |f_k(x') - f_k(x)| over all outputs, in scaled (standard-deviation) units;
- likelihood: log p(text | x) - log p(text | x') per token, the text being what the model generated from x.

From it (DeYoung et al. 2020, ERASER; Petsiuk et al. 2018, deletion / insertion):
- deletion curve: drop after removing the top k% — a faithful ranking makes it rise fast (higher AUC);
  comprehensiveness at k is this drop;
- insertion curve: drop when *only* the top k% is kept — a faithful ranking makes it fall fast (lower AUC);
  sufficiency at k is this drop; AOPC averages either over the ERASER bins (1, 5, 10, 20, 50%);
- headline: the drop at the top 10% by attention over the drop at a random 10% (``attention_vs_random``);
- rank agreement: Spearman and Kendall correlations between attention and each gradient attribution per sample,
  and the share of the attention's top 10% that the attribution's top 10% also holds.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from heedful.errors import InputError
from heedful.explain.attribution import step_attributions
from heedful.explain.config import GRADIENT_METHODS, FaithfulnessConfig
from heedful.explain.model import Explainable, step_attention
from heedful.explain.perturb import delete, keep_only, top_k_mask

REMOVAL = "replaced by the training mean (0 in scaled units); length and time axis unchanged"
SCORES = {
    "classification": "drop in the probability of the class predicted on the intact input",
    "regression": "mean absolute change of the outputs, in standard deviations of the training targets",
    "likelihood": "drop in the mean log-probability per token of the text generated from the intact input (nats)",
}


@torch.no_grad()
def run_model(
    model: Explainable, x: Tensor, lengths: Tensor, batch_size: int, rows: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """Outputs and per-step attention (B, T) of the inputs, batched. ``rows``: the samples' indices (default 0..B-1)."""
    rows = torch.arange(len(x)) if rows is None else rows
    outs, maps = [], []
    for xs, ls, rs in zip(x.split(batch_size), lengths.split(batch_size), rows.split(batch_size), strict=True):
        out, attention = model(xs, ls, rs)
        outs.append(out)
        maps.append(step_attention(attention))
    if any(m is None for m in maps):
        return torch.cat(outs), None
    return torch.cat(outs), torch.cat(maps)


class Drop:
    """x' -> (B,) how far the prediction moved from the intact one (see the module doc)."""

    def __init__(self, model: Explainable, base: Tensor, lengths: Tensor, batch_size: int, rows: Tensor):
        self.model, self.lengths, self.batch_size, self.rows = model, lengths, batch_size, rows
        if model.kind == "classification":
            self.target = base.argmax(-1)  # (B,)
            self.base = base.softmax(-1).gather(1, self.target[:, None]).squeeze(1)  # (B,) p(ŷ | x)
        elif model.kind == "likelihood":
            self.target, self.base = None, base.reshape(-1)  # (B,) log p(text | x) per token
        else:
            self.target, self.base = None, base.flatten(1)  # (B, K)

    @torch.no_grad()
    def __call__(self, x: Tensor) -> np.ndarray:
        out, _ = run_model(self.model, x, self.lengths, self.batch_size, self.rows)
        if self.model.kind == "classification":
            p = out.softmax(-1).gather(1, self.target[:, None]).squeeze(1)
            return (self.base - p).numpy()
        if self.model.kind == "likelihood":
            return (self.base - out.reshape(-1)).numpy()
        return (out.flatten(1) - self.base).abs().mean(1).numpy()


def measure_faithfulness(
    model: Explainable,
    x: np.ndarray,
    lengths: np.ndarray | None = None,
    config: FaithfulnessConfig | None = None,
    class_names: list[str] | None = None,
    progress: bool = False,
) -> dict:
    """All faithfulness numbers for ``model`` on test inputs ``x`` (N, T, C) scaled; JSON-ready.

    ``lengths`` (N,) valid steps of padded samples (None: all valid). ``class_names`` adds a per-predicted-class
    breakdown of the headline for classifiers. ``progress``: a bar over the perturbed passes (for slow models)."""
    cfg = config or FaithfulnessConfig()
    xt, lt, picked = _subset(model, x, lengths, class_names, cfg)
    rows = torch.from_numpy(picked)
    torch.manual_seed(cfg.seed)
    base, attention = run_model(model, xt, lt, cfg.batch_size, rows)
    if attention is None:
        raise InputError(
            "this model returns no attention weights: faithfulness measures attention (train an *_attn model)"
        )
    drop = Drop(model, base, lt, cfg.batch_size, rows)
    scores = _rankings(model, xt, lt, attention, drop, cfg)
    grid = cfg.grid
    all_removed = drop(keep_only(xt, torch.zeros_like(attention, dtype=torch.bool), lt))
    bar = tqdm(total=len(grid) * sum(map(len, scores.values())), desc="perturbed passes", disable=not progress)
    perturbed = Perturbed(drop, xt, lt)
    per_sample = {m: _curves(perturbed, s, grid, bar) for m, s in scores.items()}  # method -> (deletion, insertion)
    bar.close()
    curves = {m: _mean_curve(d, i, all_removed) for m, (d, i) in per_sample.items()}
    h = grid.index(cfg.headline_fraction)
    result = {
        "kind": model.kind,
        "samples": len(picked),
        "of_samples": len(x),
        "skipped_classes": list(cfg.skip_classes),
        "removal": REMOVAL,
        "drop": SCORES[model.kind],
        "base_score": float(drop.base.mean()) if model.kind != "regression" else None,
        "fractions": [0.0, *grid],
        "curves": curves,
        "auc": {m: {k: _auc(c[k], [0.0, *grid]) for k in ("deletion", "insertion")} for m, c in curves.items()},
        "eraser": {m: _eraser(c, grid, cfg.eraser_fractions) for m, c in curves.items()},
        "rank_agreement": _agreement(scores, lt, cfg.headline_fraction),
        "attention_mass_in_top": float((attention * top_k_mask(attention, lt, cfg.headline_fraction)).sum(1).mean()),
        "headline": _headline({m: d[h] for m, (d, _) in per_sample.items()}, cfg.headline_fraction),
    }
    if class_names is not None and model.kind == "classification":
        result["by_predicted_class"] = _by_class(per_sample, h, drop.target.numpy(), class_names, cfg)
    return result


def _subset(model: Explainable, x: np.ndarray, lengths, class_names, cfg: FaithfulnessConfig):
    """The samples measured: those not predicted as one of ``cfg.skip_classes``, at most ``max_samples`` of them
    (a seeded random subset), as tensors, with their indices in ``x``."""
    if len(x) == 0:
        raise InputError("no samples to measure: the test split is empty")
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    lt = torch.from_numpy(np.asarray(lengths)).long() if lengths is not None else torch.full((len(x),), x.shape[1])
    candidates = np.arange(len(x))
    if cfg.skip_classes:
        skip = _class_ids(cfg.skip_classes, model, class_names)
        predicted = run_model(model, xt, lt, cfg.batch_size)[0].argmax(-1).numpy()  # rows 0..N-1: all samples
        candidates = candidates[~np.isin(predicted, skip)]
        if len(candidates) == 0:
            raise InputError(f"every test sample is predicted as one of {list(cfg.skip_classes)}: nothing to measure")
    picked = seeded_subset(candidates, cfg)
    index = torch.from_numpy(picked)
    return xt[index], lt[index], picked


def seeded_subset(candidates: np.ndarray, cfg: FaithfulnessConfig) -> np.ndarray:
    """At most ``cfg.max_samples`` of ``candidates`` (sample indices): all of them, or a sorted seeded random subset."""
    if len(candidates) <= cfg.max_samples:
        return candidates
    return np.sort(np.random.default_rng(cfg.seed).choice(candidates, cfg.max_samples, replace=False))


def _class_ids(names, model: Explainable, class_names) -> list[int]:
    if model.kind != "classification" or class_names is None:
        raise InputError("skip_classes: only for classifiers with class names")
    unknown = sorted(set(names) - set(class_names))
    if unknown:
        raise InputError(f"skip_classes: unknown classes {unknown}; known: {', '.join(class_names)}")
    return [class_names.index(n) for n in names]


def _rankings(model, x, lengths, attention, drop: Drop, cfg: FaithfulnessConfig) -> dict[str, list[Tensor]]:
    """method -> list of (N, T) step scores (several for ``random``, one otherwise)."""
    reference = drop.target if model.kind == "classification" else drop.base
    scores: dict[str, list[Tensor]] = {"attention": [attention]}
    for method in cfg.methods:
        if method in GRADIENT_METHODS:
            attr = step_attributions(model, x, lengths, reference, method, cfg.ig_steps, cfg.batch_size, drop.rows)
            scores[method] = [attr]
    if "random" in cfg.methods:
        g = torch.Generator().manual_seed(cfg.seed)
        scores["random"] = [torch.rand(attention.shape, generator=g) for _ in range(cfg.random_repeats)]
    return scores


class Perturbed:
    """The drop of each perturbed input, computed once: with few steps (a dialogue's ten utterances) several
    fractions remove the same steps, and every ranking removes all of them at 100%."""

    def __init__(self, drop: Drop, x: Tensor, lengths: Tensor):
        self.drop, self.x, self.lengths = drop, x, lengths
        self.seen: dict[tuple[str, bytes], np.ndarray] = {}

    def delete(self, mask: Tensor) -> np.ndarray:
        return self._once("delete", mask, lambda: delete(self.x, mask))

    def keep(self, mask: Tensor) -> np.ndarray:
        return self._once("keep", mask, lambda: keep_only(self.x, mask, self.lengths))

    def _once(self, op: str, mask: Tensor, make) -> np.ndarray:
        key = (op, mask.numpy().tobytes())
        if key not in self.seen:
            self.seen[key] = self.drop(make())
        return self.seen[key]


def _curves(perturbed: Perturbed, scores: list[Tensor], grid, bar) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-sample drops at every grid fraction, deleting / keeping the top of each ranking (averaged over them)."""
    deletion, insertion = [], []
    for fraction in grid:
        masks = [top_k_mask(s, perturbed.lengths, fraction) for s in scores]
        deletion.append(np.mean([perturbed.delete(m) for m in masks], axis=0))
        insertion.append(np.mean([perturbed.keep(m) for m in masks], axis=0))
        bar.update(len(masks))
    return deletion, insertion


def _mean_curve(deletion, insertion, all_removed: np.ndarray) -> dict:
    """Curves from fraction 0: deletion starts at no drop, insertion at the drop with every step removed."""
    return {
        "deletion": [0.0, *(float(d.mean()) for d in deletion)],
        "insertion": [float(all_removed.mean()), *(float(i.mean()) for i in insertion)],
    }


def _auc(curve: list[float], xs: list[float]) -> float:
    return float(np.trapezoid(curve, xs) / (xs[-1] - xs[0]))


def _eraser(curve: dict, grid, bins) -> dict:
    at = {f: i + 1 for i, f in enumerate(grid)}  # curve index of each fraction (index 0 is fraction 0)
    comp = {str(f): curve["deletion"][at[f]] for f in bins}
    suff = {str(f): curve["insertion"][at[f]] for f in bins}
    return {
        "comprehensiveness": comp,
        "sufficiency": suff,
        "aopc_comprehensiveness": float(np.mean(list(comp.values()))),
        "aopc_sufficiency": float(np.mean(list(suff.values()))),
    }


def _agreement(scores: dict[str, list[Tensor]], lengths: Tensor, fraction: float) -> dict:
    from scipy.stats import kendalltau, spearmanr

    attention = scores["attention"][0]
    top_attention = top_k_mask(attention, lengths, fraction)
    out = {}
    for method in GRADIENT_METHODS:
        if method not in scores:
            continue
        attr = scores[method][0]
        rho, tau = [], []
        for a, g, n in zip(attention.numpy(), attr.numpy(), lengths.tolist(), strict=True):
            if n > 2 and np.ptp(a[:n]) > 0 and np.ptp(g[:n]) > 0:
                rho.append(spearmanr(a[:n], g[:n]).statistic)
                tau.append(kendalltau(a[:n], g[:n]).statistic)
        top = top_k_mask(attr, lengths, fraction)
        overlap = (top & top_attention).sum(1) / top_attention.sum(1)
        out[method] = {
            "spearman": float(np.mean(rho)) if rho else None,
            "kendall": float(np.mean(tau)) if tau else None,
            f"top_{fraction:g}_overlap": float(overlap.double().mean()),
        }
    return out


def _headline(at: dict[str, np.ndarray], fraction: float) -> dict:
    """Mean drop at the headline fraction per method, and each ranking's ratio to random."""
    out: dict = {"fraction": fraction, **{m: float(d.mean()) for m, d in at.items()}}
    if "random" in at:
        rnd = float(at["random"].mean())
        for m in at:
            if m != "random":
                out[f"{m}_vs_random"] = float(at[m].mean()) / rnd if rnd > 0 else None
    return out


def _by_class(per_sample, h: int, predicted: np.ndarray, names: list[str], cfg: FaithfulnessConfig) -> dict:
    out = {}
    for c in np.unique(predicted):
        rows = predicted == c
        at = {m: d[h][rows] for m, (d, _) in per_sample.items()}
        out[names[int(c)]] = {"samples": int(rows.sum()), **_headline(at, cfg.headline_fraction)}
    return out


def summary_lines(result: dict) -> list[str]:
    """The lines a user reads first: attention (and integrated gradients) against random deletion, and the AUCs."""
    head = result["headline"]
    pct = f"{100 * head['fraction']:g}%"
    lines = []
    for method in ("attention", "integrated_gradients", "input_x_gradient"):
        if method not in head or "random" not in head:
            continue
        ratio = head.get(f"{method}_vs_random")
        shown = f"{ratio:.1f}x" if ratio is not None else "n/a (a random share does not lower the prediction)"
        lines.append(
            f"{method.replace('_', ' ')} vs random deletion: {shown} (top {pct}: drop {head[method]:.3f}, "
            f"random {pct}: {head['random']:.3f})"
        )
    for method, auc in result["auc"].items():
        lines.append(
            f"{method}: deletion AUC {auc['deletion']:.3f} (higher: more faithful), "
            f"insertion AUC {auc['insertion']:.3f} (lower: more faithful)"
        )
    return lines
