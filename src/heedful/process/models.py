"""Neural models built from a task's metadata (``build_model(name, data)``)."""

from __future__ import annotations

import re

from heedful.process.names import NEURAL_MODELS
from heedful.process.tasks.base import TaskData
from heedful.sequence import SequenceModel

MODEL_PATTERN = re.compile(r"^(bi)?(lstm|gru)(_attn)?$")


def build_model(name: str, data: TaskData, hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.1):
    match = MODEL_PATTERN.match(name)
    if match is None:
        raise ValueError(f"unknown model {name!r}; expected one of: {', '.join(NEURAL_MODELS)}")
    bi, cell, attn = match.groups()
    if data.kind != "classification":
        raise ValueError(f"model {name!r} supports classification tasks, got a {data.kind} task")
    return SequenceModel.build(
        data.n_features,
        data.n_classes,
        pooling="attention" if attn else "last",
        hidden_size=hidden_size,
        num_layers=num_layers,
        cell=cell,
        bidirectional=bool(bi),
        dropout=dropout,
    )
