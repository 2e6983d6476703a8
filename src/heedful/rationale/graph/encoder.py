"""Emotion-change graph encoder (PyTorch Geometric): ``h_change`` and per-node states for one or many dialogues.

Graph of a sample with n utterances: nodes 0..n-1 are utterances, node n is the super node S of the change span.
Directed relations (``RELATIONS``): temporal i→i+1 and i+1→i, same speaker (every ordered pair of distinct utterances
of one speaker), span→S and S→span for the utterances ``start_idx..end_idx``. ``graph_edges`` is pure Python, so the
counts are testable without torch.

Node inputs: projected text features (+ optional visual features), a speaker-role embedding (0 = the changing
speaker, then the others in order of appearance: letters like A/B carry no identity across dialogues), the
utterance's emotions (multi-hot through a linear map) and its normalised position i/(n-1). S starts from a learned
vector plus the change's from- and to-emotions. A stack of GATv2 (relation embedding as edge attribute) or R-GCN
layers, each residual with LayerNorm, gives ``h_change`` = the final state of S, and the utterance states padded to
(B, N, D) with a bool mask (True = valid): the condition tokens of the cross-attention route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from heedful.errors import InputError
from heedful.rationale.data.schema import EMOTION_INDEX, EMOTIONS
from heedful.rationale.graph.config import CONVS, GraphConfig  # noqa: F401  (re-exported: the config's old home)

if TYPE_CHECKING:
    from heedful.rationale.data.schema import Sample

RELATIONS = ("temporal_next", "temporal_prev", "same_speaker", "span_to_super", "super_to_span")


def graph_edges(sample: Sample) -> tuple[list[tuple[int, int]], list[int]]:
    """(edges as (source, target), relation index per edge); node ``len(utterances)`` is S."""
    n, s = len(sample.utterances), len(sample.utterances)
    edges, types = [], []

    def add(src: int, dst: int, rel: str) -> None:
        edges.append((src, dst))
        types.append(RELATIONS.index(rel))

    for i in range(n - 1):
        add(i, i + 1, "temporal_next")
        add(i + 1, i, "temporal_prev")
    for i in range(n):
        for j in range(n):
            if i != j and sample.utterances[i].speaker == sample.utterances[j].speaker:
                add(i, j, "same_speaker")
    for i in range(sample.emo_change.start_idx, sample.emo_change.end_idx + 1):
        add(i, s, "span_to_super")
        add(s, i, "super_to_span")
    return edges, types


def speaker_roles(sample: Sample, max_speakers: int) -> list[int]:
    """0 for the changing speaker, 1.. for the others by first appearance (capped at max_speakers - 1)."""
    order = [sample.target_speaker] + [s for s in sample.speakers if s != sample.target_speaker]
    role = {s: min(i, max_speakers - 1) for i, s in enumerate(order)}
    return [role[u.speaker] for u in sample.utterances]


def multi_hot(labels) -> list[float]:
    out = [0.0] * len(EMOTIONS)
    for label in labels:
        out[EMOTION_INDEX[label]] = 1.0 / len(labels)
    return out


def sample_graph(sample: Sample, text: np.ndarray, cfg: GraphConfig, visual: np.ndarray | None = None):
    """One ``torch_geometric.data.Data`` (S last). ``text``: (n, text_dim); ``visual``: (n, visual_dim) or None."""
    from torch_geometric.data import Data

    n = len(sample.utterances)
    for name, array, dim in (("text", text, cfg.text_dim), ("visual", visual, cfg.visual_dim)):
        if array is None:
            continue
        if array.ndim != 2 or array.shape != (n, dim):
            raise InputError(
                f"sample {sample.sample_id}: {name} features have shape {tuple(array.shape)}, expected ({n}, {dim})"
            )
    if cfg.visual_dim and visual is None:
        raise InputError(f"sample {sample.sample_id}: visual features missing (the graph expects {cfg.visual_dim})")
    edges, types = graph_edges(sample)
    zeros = np.zeros((1, cfg.text_dim), np.float32)
    data = Data(
        x=torch.from_numpy(np.concatenate([np.asarray(text, np.float32), zeros])),  # (n+1, text_dim)
        edge_index=torch.tensor(edges, dtype=torch.long).T.reshape(2, -1),
        edge_type=torch.tensor(types, dtype=torch.long),
        speaker=torch.tensor([*speaker_roles(sample, cfg.max_speakers), 0]),
        emotion=torch.tensor([multi_hot(u.emotion) for u in sample.utterances] + [[0.0] * len(EMOTIONS)]),
        pos=torch.tensor([i / max(n - 1, 1) for i in range(n)] + [0.0]).unsqueeze(-1),  # (n+1, 1)
        is_super=torch.tensor([False] * n + [True]),
        change=torch.tensor([multi_hot(sample.emo_change.from_emotion) + multi_hot(sample.emo_change.to_emotion)]),
        num_nodes=n + 1,
    )
    if cfg.visual_dim:
        pad = np.zeros((1, cfg.visual_dim), np.float32)
        data.visual = torch.from_numpy(np.concatenate([np.asarray(visual, np.float32), pad]))  # (n+1, visual_dim)
    return data


def make_batch(samples: list[Sample], text: list[np.ndarray], cfg: GraphConfig, visual=None):
    from torch_geometric.data import Batch

    visual = visual if visual is not None else [None] * len(samples)
    return Batch.from_data_list([sample_graph(s, t, cfg, v) for s, t, v in zip(samples, text, visual, strict=True)])


@dataclass
class GraphOutput:
    h_change: Tensor  # (B, D)
    node_states: Tensor  # (B, N, D) utterance states, zero-padded
    node_mask: Tensor  # (B, N) bool, True = a real utterance
    visual: Tensor | None = None  # (B, N, visual_dim) the utterances' frame features, zero-padded (when given)


class ChangeGraphEncoder(nn.Module):
    def __init__(self, cfg: GraphConfig):
        super().__init__()
        from torch_geometric.nn import GATv2Conv, RGCNConv

        self.cfg = cfg
        h = cfg.hidden
        self.text_proj = nn.Linear(cfg.text_dim, h)
        self.visual_proj = nn.Linear(cfg.visual_dim, h) if cfg.visual_dim else None
        # gated fusion: how much of the frame each node takes, from both modalities (a face may not matter)
        self.visual_gate = nn.Linear(2 * h, h) if cfg.visual_dim and cfg.fusion == "gated" else None
        self.speaker = nn.Embedding(cfg.max_speakers, h)
        self.emotion = nn.Linear(len(EMOTIONS), h, bias=False)
        self.position = nn.Linear(1, h)
        self.super_init = nn.Parameter(torch.zeros(h))
        self.change_proj = nn.Linear(2 * len(EMOTIONS), h)
        self.relation = nn.Embedding(len(RELATIONS), h)
        if cfg.conv == "gatv2":
            convs = [
                GATv2Conv(h, h // cfg.heads, heads=cfg.heads, edge_dim=h, dropout=cfg.dropout)
                for _ in range(cfg.layers)
            ]
        else:
            convs = [RGCNConv(h, h, num_relations=len(RELATIONS)) for _ in range(cfg.layers)]
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(cfg.layers))
        self.drop = nn.Dropout(cfg.dropout)

    def fuse_visual(self, text: Tensor, visual: Tensor) -> Tensor:
        """(nodes, H) text inputs + their (nodes, visual_dim) frames, as ``cfg.fusion`` says."""
        if self.training and self.cfg.modality_dropout:
            keep = torch.rand(visual.shape[0], 1, device=visual.device) >= self.cfg.modality_dropout
            visual = visual * keep
        v = self.visual_proj(visual)
        if self.visual_gate is None:
            return text + v
        return text + torch.sigmoid(self.visual_gate(torch.cat([text, v], -1))) * v

    def node_inputs(self, batch) -> Tensor:
        x = self.text_proj(batch.x)
        if self.visual_proj is not None:
            x = self.fuse_visual(x, batch.visual)
        x = x + self.speaker(batch.speaker) + self.emotion(batch.emotion) + self.position(batch.pos)
        s = self.super_init + self.change_proj(batch.change)  # (B, H): one S per graph, in graph order
        return x.index_put((batch.is_super.nonzero().squeeze(-1),), s)  # S rows replaced, not added to

    def forward(self, batch) -> GraphOutput:
        from torch_geometric.utils import to_dense_batch

        h = self.node_inputs(batch)  # (total nodes, H)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            if self.cfg.conv == "gatv2":
                update = conv(h, batch.edge_index, edge_attr=self.relation(batch.edge_type))
            else:
                update = conv(h, batch.edge_index, batch.edge_type)
            h = norm(h + self.drop(torch.nn.functional.gelu(update)))
        h_change = h[batch.is_super]  # (B, H), one super node per graph in batch order
        utt = ~batch.is_super
        states, mask = to_dense_batch(h[utt], batch.batch[utt])  # (B, N, H), (B, N)
        visual = to_dense_batch(batch.visual[utt], batch.batch[utt])[0] if self.visual_proj is not None else None
        return GraphOutput(h_change, states, mask, visual)
