"""Contrastive pre-training of the change graph: InfoNCE between ``h_change`` and the rationale's text embedding.

A linear head maps ``h_change`` into the text-embedding space; the loss is the symmetric InfoNCE over a batch
(the other rationales of the batch are the negatives). ``recall_at_k`` checks on held-out samples that the projected
``h_change`` of a dialogue ranks its own rationale among all held-out rationales; chance is k / N.
Checkpoints are a ``safetensors`` state dict plus ``graph.json`` (graph config, head size, text encoder name).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from heedful.errors import InputError
from heedful.rationale.features.vectors import l2_normalise
from heedful.rationale.graph.config import ContrastiveConfig, GraphConfig
from heedful.rationale.graph.encoder import ChangeGraphEncoder, make_batch
from heedful.runs import atomic_write, read_json, write_json


class ChangeAligner(nn.Module):
    """Graph encoder + linear head into the rationale embedding space (unit vectors)."""

    def __init__(self, graph: GraphConfig, target_dim: int):
        super().__init__()
        self.graph_config, self.target_dim = graph, target_dim
        self.encoder = ChangeGraphEncoder(graph)
        self.head = nn.Linear(graph.hidden, target_dim)

    def forward(self, batch) -> Tensor:
        return F.normalize(self.head(self.encoder(batch).h_change), dim=-1)  # (B, target_dim)


def info_nce(z: Tensor, t: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE; z, t: (B, D) unit rows, row i of each is a positive pair."""
    logits = z @ t.T / temperature  # (B, B)
    labels = torch.arange(len(z), device=z.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def recall_at_k(queries: np.ndarray, targets: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """Share of rows i whose target i is among the k most similar targets of query i (cosine)."""
    q, t = l2_normalise(queries), l2_normalise(targets)
    sim = q @ t.T  # (N, N)
    rank = (sim > np.diag(sim)[:, None]).sum(1)  # targets strictly better than the true one
    rank[~np.isfinite(np.diag(sim))] = len(q)  # a NaN similarity is a miss, not a hit
    out = {f"recall@{k}": float((rank < k).mean()) for k in ks}
    out |= {f"chance@{k}": min(k / len(q), 1.0) for k in ks}
    return out | {"n": len(q)}


@torch.no_grad()
def embed_changes(model: ChangeAligner, samples, text, visual=None, batch_size: int = 256, projected=True):
    model.eval()
    out = []
    for start in range(0, len(samples), batch_size):
        sl = slice(start, start + batch_size)
        batch = make_batch(samples[sl], text[sl], model.graph_config, visual[sl] if visual is not None else None)
        out.append(model(batch) if projected else model.encoder(batch).h_change)
    return torch.cat(out).numpy() if out else np.zeros((0, model.target_dim), np.float32)


def train_aligner(
    train: tuple[list, list[np.ndarray], np.ndarray],
    dev: tuple[list, list[np.ndarray], np.ndarray] | None,
    graph: GraphConfig,
    cfg: ContrastiveConfig,
    progress: bool = True,
) -> tuple[ChangeAligner, dict]:
    """(samples, utterance features, rationale embeddings (N, D)[, visual features]) for train and dev → model and
    a report."""
    from tqdm.auto import tqdm

    samples, text, targets, *rest = train
    visual = rest[0] if rest else None
    if len(samples) < 2:
        raise InputError(f"contrastive training needs at least 2 samples with a rationale, got {len(samples)}")
    torch.manual_seed(cfg.seed)
    model = ChangeAligner(graph, targets.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * -(-len(samples) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.1)
    target_t = torch.from_numpy(np.asarray(targets, np.float32))
    g = torch.Generator().manual_seed(cfg.seed)
    report = {"before": _dev_report(model, dev), "loss": []}
    start = time.time()
    for _ in tqdm(range(cfg.epochs), desc="contrastive", unit="epoch", disable=not progress, leave=False):
        model.train()
        losses = []
        for idx in torch.randperm(len(samples), generator=g).split(cfg.batch_size):
            if len(idx) < 2:
                continue
            frames = [visual[i] for i in idx] if visual is not None else None
            batch = make_batch([samples[i] for i in idx], [text[i] for i in idx], graph, frames)
            loss = info_nce(model(batch), F.normalize(target_t[idx], dim=-1), cfg.temperature)
            if not torch.isfinite(loss):
                raise InputError(f"contrastive training diverged (loss {loss.item()}): lower lr or raise temperature")
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        report["loss"].append(float(np.mean(losses)))
    report["train_seconds"] = time.time() - start
    report["after"] = _dev_report(model, dev)
    return model.eval(), report


def _dev_report(model: ChangeAligner, dev) -> dict | None:
    if dev is None or len(dev[0]) < 2:
        return None
    samples, text, targets, *rest = dev
    return recall_at_k(embed_changes(model, samples, text, rest[0] if rest else None), np.asarray(targets))


def save_aligner(model: ChangeAligner, folder: str | Path, extra: dict | None = None) -> Path:
    from safetensors.torch import save_file

    folder = Path(folder)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / "graph.safetensors", lambda p: save_file(state, str(p)))
    meta = {"graph": model.graph_config.to_dict(), "target_dim": model.target_dim} | (extra or {})
    write_json(folder / "graph.json", meta)
    return folder


def load_aligner(folder: str | Path) -> tuple[ChangeAligner, dict]:
    """The aligner saved by ``save_aligner``; a damaged or mismatched checkpoint is an InputError naming the file."""
    folder = Path(folder)
    meta_path, weights_path = folder / "graph.json", folder / "graph.safetensors"
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"no graph checkpoint {path} (train one with 'heedful rationale pretrain')")
    graph, target_dim, meta = _read_graph_meta(meta_path)
    state = _read_weights(weights_path)
    _check_sizes(state, graph, target_dim, weights_path)  # before building: a wrong size must not allocate a huge model
    model = ChangeAligner(graph, target_dim)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        reason = str(err).splitlines()[-1].strip()
        raise InputError(f"{weights_path}: does not match graph.json ({reason})") from None
    if missing or unexpected:
        raise InputError(f"{weights_path}: does not match graph.json (missing {missing}, unexpected {unexpected})")
    return model.eval(), meta


def _read_graph_meta(path: Path) -> tuple[GraphConfig, int, dict]:
    meta = read_json(path)
    try:
        graph, target_dim = GraphConfig(**meta["graph"]), meta["target_dim"]
    except (TypeError, KeyError) as err:
        raise InputError(f"{path}: not a graph config written by 'heedful rationale pretrain' ({err!r})") from None
    if not isinstance(target_dim, int) or isinstance(target_dim, bool) or target_dim < 1:
        raise InputError(f"{path}: target_dim must be a positive integer")
    return graph, target_dim, meta


def _read_weights(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except SafetensorError as err:
        raise InputError(f"{path}: damaged checkpoint ({err})") from None
    if not all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point()):
        raise InputError(f"{path}: weights contain NaN or inf")
    return state


def _check_sizes(state: dict[str, Tensor], graph: GraphConfig, target_dim: int, path: Path) -> None:
    """The sizes graph.json gives against the tensors' shapes (every size that scales the model)."""
    h = graph.hidden
    expected = {
        "head.weight": (target_dim, h),
        "encoder.text_proj.weight": (h, graph.text_dim),
        "encoder.speaker.weight": (graph.max_speakers, h),
        "encoder.visual_proj.weight": (h, graph.visual_dim) if graph.visual_dim else None,
    }
    for name, shape in expected.items():
        found = tuple(state[name].shape) if name in state else None
        if found != shape:
            raise InputError(f"{path}: {name} has shape {found}, but graph.json says {shape}")
    layers = {key.split(".")[2] for key in state if key.startswith("encoder.convs.")}
    if len(layers) != graph.layers:
        raise InputError(f"{path}: holds {len(layers)} graph layers, but graph.json says {graph.layers}")
