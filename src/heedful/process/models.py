"""Neural models built from what a task's data is (``build_model(name, spec)``, a ``DataSpec`` or ``TaskData``).

- classification / regression: an RNN encoder pooled to one prediction (``last``, or ``_attn`` attention pooling);
- sequence_classification / sequence_regression: the RNN's per-step outputs (many-to-many; no ``_attn``);
- forecast: the pooled RNN emits all ``horizon × targets`` values at once, or ``seq2seq[_attn]`` decodes them step
  by step, starting from the last observed targets; ``seq2seq_attn`` also serves per-step regression (a
  "translation" of the input trajectory into the target trajectory).
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from heedful.errors import InputError
from heedful.process.config import ModelConfig
from heedful.process.data import DataSpec
from heedful.process.names import NEURAL_MODELS
from heedful.sequence import LSTMFCN, Seq2Seq, Seq2SeqConfig, SequenceModel, SequenceOutput

MODEL_PATTERN = re.compile(r"^(bi)?(lstm|gru)(_attn)?$")
PER_STEP = ("sequence_classification", "sequence_regression")


def check_model(name: str) -> None:
    if name not in NEURAL_MODELS:
        raise InputError(f"unknown model {name!r}; expected one of: {', '.join(NEURAL_MODELS)}")


def build_model(name: str, data: DataSpec, config: ModelConfig | None = None, **params):
    """The neural model ``name`` sized for ``data`` (``config``, or ``ModelConfig(**params)``). Which tasks a
    seq2seq model serves is the task's choice (``Task.build_model``); here only the kind is checked."""
    config = config or ModelConfig(**params)
    check_model(name)
    if name in ("seq2seq", "seq2seq_attn"):
        return _build_seq2seq(name, data, config)
    if name == "lstm_fcn":
        return _build_lstm_fcn(data, config)
    bi, cell, attn = MODEL_PATTERN.match(name).groups()
    common = dict(
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        cell=cell,
        bidirectional=bool(bi),
        dropout=config.dropout,
    )
    if data.kind in PER_STEP:
        if attn:
            raise InputError(f"model {name!r} pools by attention; {data.name} needs per-step outputs: drop '_attn'")
        return SequenceModel.build(data.n_features, _outputs(data), head="many_to_many", **common)
    pooling = "attention" if attn else "last"
    if data.kind == "forecast":
        net = SequenceModel.build(data.n_features, data.horizon * _outputs(data), pooling=pooling, **common)
        return Reshaped(net, (data.horizon, _outputs(data)))
    return SequenceModel.build(data.n_features, _outputs(data), pooling=pooling, **common)


def _build_lstm_fcn(data: DataSpec, config: ModelConfig) -> nn.Module:
    """LSTM-FCN (``heedful.sequence.lstm_fcn``): one prediction per sequence; its LSTM has ``hidden_size`` units."""
    if data.kind in PER_STEP:
        raise InputError(f"model 'lstm_fcn' gives one prediction per sequence; {data.name} needs per-step outputs")
    if config.num_layers != 1:
        raise InputError(f"model 'lstm_fcn' has one LSTM layer (as published), got num_layers={config.num_layers}")
    out = data.horizon * _outputs(data) if data.kind == "forecast" else _outputs(data)
    net = LSTMFCN(data.n_features, out, hidden_size=config.hidden_size, dropout=config.dropout)
    return Reshaped(net, (data.horizon, _outputs(data))) if data.kind == "forecast" else net


def _outputs(data: DataSpec) -> int:
    return data.n_classes if "classification" in data.kind else len(data.target_names)


class Reshaped(nn.Module):
    """A many-to-one model whose flat output is read as (B, *shape), e.g. (B, horizon, targets)."""

    def __init__(self, net: nn.Module, shape: tuple[int, ...]):
        super().__init__()
        self.net, self.shape = net, shape

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> SequenceOutput:
        out = self.net(x, lengths)
        return SequenceOutput(out.prediction.view(x.shape[0], *self.shape), out.attention, out.mask)


class ProcessSeq2Seq(nn.Module):
    """Seq2Seq with continuous outputs behind the process models' interface: ``forward(x, lengths, target,
    teacher_forcing)``. Without a target it decodes ``steps`` outputs from its own predictions (inference).
    Forecasting starts the decoder from the last observed target values (``start_index``)."""

    def __init__(self, config: Seq2SeqConfig, steps: int | None, start_index: list[int] | None):
        super().__init__()
        self.seq2seq, self.steps, self.start_index = Seq2Seq(config), steps, start_index

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, target: Tensor | None = None, teacher_forcing: float = 0.0
    ) -> SequenceOutput:
        b, t = x.shape[:2]
        steps = self.steps or t  # per-step translation: one output per input step
        if target is None:
            target, teacher_forcing = x.new_zeros(b, steps, self.seq2seq.config.output_size), 0.0
        start = x[:, -1, self.start_index] if self.start_index is not None else None
        out = self.seq2seq(x, target, lengths, teacher_forcing=teacher_forcing, start=start)
        mask = torch.ones(b, steps, dtype=torch.bool, device=x.device)
        return SequenceOutput(out.outputs, out.attention, mask)


def seq2seq_refusal(name: str, data: DataSpec) -> str:
    return f"model {name!r} needs a forecasting or trajectory task, got {data.name} ({data.kind})"


def _build_seq2seq(name: str, data: DataSpec, model: ModelConfig) -> ProcessSeq2Seq:
    if data.kind not in ("forecast", "sequence_regression"):
        raise InputError(seq2seq_refusal(name, data))
    config = Seq2SeqConfig(
        input_size=data.n_features,
        output_size=_outputs(data),
        hidden_size=2 * model.hidden_size,  # bi-encoder: hidden_size per direction, like the bi-RNN models
        num_layers=model.num_layers,
        attention="bahdanau" if name == "seq2seq_attn" else None,
        dropout=model.dropout,
    )
    start = [data.feature_names.index(n) for n in data.target_names] if data.kind == "forecast" else None
    return ProcessSeq2Seq(config, data.horizon, start)
