"""Encoder-decoder (Seq2Seq) with or without attention, for token or continuous outputs.

Attention styles:
- ``bahdanau`` (Bahdanau et al. 2015): the previous decoder state queries the memory; the context
  joins the RNN input.
- ``luong_dot`` / ``luong_general`` / ``luong_concat`` (Luong et al. 2015): the new decoder state
  queries the memory; h̃ = tanh(W_c [c; s]) feeds the output and, with ``input_feed``, the next input.
- ``None``: a plain encoder-decoder, the encoder's final states bridged into the decoder.

A bidirectional encoder uses ``hidden_size // 2`` units per direction (as OpenNMT does), so the memory,
the bridged states and the decoder all have ``hidden_size`` features and every Luong score applies.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor, nn

from heedful.attention.scores import Attention
from heedful.errors import InputError
from heedful.sequence.encoder import BiRNNEncoder, check_choice
from heedful.sequence.schedule import mix_inputs

ATTENTIONS = ("bahdanau", "luong_dot", "luong_general", "luong_concat")


@dataclass
class Seq2SeqConfig:
    """Exactly one of ``input_size`` (continuous source) / ``src_vocab`` (token source) and one of
    ``output_size`` (continuous targets) / ``tgt_vocab`` (token targets)."""

    input_size: int | None = None
    src_vocab: int | None = None
    output_size: int | None = None
    tgt_vocab: int | None = None
    hidden_size: int = 64
    embed_dim: int = 32
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = True
    attention: str | None = "bahdanau"
    attn_dim: int | None = None
    input_feed: bool = True
    dropout: float = 0.0
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self):
        if (self.input_size is None) == (self.src_vocab is None):
            raise InputError("set exactly one of input_size (continuous source) or src_vocab (token source)")
        if (self.output_size is None) == (self.tgt_vocab is None):
            raise InputError("set exactly one of output_size (continuous targets) or tgt_vocab (token targets)")
        if self.attention is not None:
            check_choice("attention", self.attention, ATTENTIONS)
        check_choice("cell", self.cell, ("lstm", "gru"))
        if self.bidirectional and self.hidden_size % 2:
            raise InputError(f"a bidirectional encoder needs an even hidden_size, got {self.hidden_size}")
        if self.tgt_vocab is not None and not all(0 <= i < self.tgt_vocab for i in self._special_ids()):
            raise InputError(f"pad/bos/eos ids {self._special_ids()} must lie in [0, {self.tgt_vocab})")

    def _special_ids(self) -> tuple[int, int, int]:
        return self.pad_id, self.bos_id, self.eos_id

    @property
    def tokens_out(self) -> bool:
        return self.tgt_vocab is not None

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class DecoderState:
    """Everything a decoder step needs; all tensors are batch-indexed so beams can reorder them.
    hidden/cell: (L, B, H); feed: (B, H) Luong input feeding; memory (B, S, H); keys: memory
    prepared by the score; mask (B, S)."""

    hidden: Tensor
    cell: Tensor | None
    feed: Tensor | None
    memory: Tensor | None
    keys: Tensor | None
    mask: Tensor

    def select(self, index: Tensor) -> DecoderState:
        """Rows ``index`` of every tensor (beam expansion: B -> B*K)."""
        return replace(
            self.reorder(index),
            memory=_rows(self.memory, index, 0),
            keys=_rows(self.keys, index, 0),
            mask=self.mask.index_select(0, index),
        )

    def reorder(self, index: Tensor) -> DecoderState:
        """Rows ``index`` of the recurrent parts only. Beams of one input share its memory, so a
        reordering that stays within each input's beams need not copy the memory every step."""
        return replace(
            self,
            hidden=self.hidden.index_select(1, index),
            cell=_rows(self.cell, index, 1),
            feed=_rows(self.feed, index, 0),
        )


def _rows(x: Tensor | None, index: Tensor, dim: int) -> Tensor | None:
    return None if x is None else x.index_select(dim, index)


@dataclass
class Seq2SeqOutput:
    outputs: Tensor  # (B, T, V) logits or (B, T, output_size) values
    attention: Tensor | None  # (B, T, S)


class Seq2Seq(nn.Module):
    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = c = config
        h = c.hidden_size
        self.src_embed = nn.Embedding(c.src_vocab, c.embed_dim, padding_idx=c.pad_id) if c.src_vocab else None
        enc_in = c.embed_dim if c.src_vocab else c.input_size
        per_dir = h // 2 if c.bidirectional else h
        self.encoder = BiRNNEncoder(enc_in, per_dir, c.num_layers, c.cell, c.bidirectional, c.dropout, "concat")
        self.bridge_h = nn.Linear(h, h)
        self.bridge_c = nn.Linear(h, h) if c.cell == "lstm" else None
        self.tgt_embed = nn.Embedding(c.tgt_vocab, c.embed_dim, padding_idx=c.pad_id) if c.tokens_out else None
        self.start = None if c.tokens_out else nn.Parameter(torch.zeros(c.output_size))
        y_dim = c.embed_dim if c.tokens_out else c.output_size
        self.luong = c.attention is not None and c.attention.startswith("luong")
        self.feeding = self.luong and c.input_feed
        rnn_in = y_dim + (h if c.attention == "bahdanau" or self.feeding else 0)
        self.decoder_rnn = (nn.LSTM if c.cell == "lstm" else nn.GRU)(
            rnn_in,
            h,
            num_layers=c.num_layers,
            batch_first=True,
            dropout=c.dropout if c.num_layers > 1 else 0.0,
        )
        score = {"bahdanau": "additive"}.get(c.attention, c.attention)
        self.attention = Attention(score, h, h, c.attn_dim) if c.attention else None
        self.combine = nn.Linear(2 * h, h) if self.luong else None  # h̃ = tanh(W_c [c; s])
        out_in = 2 * h if c.attention == "bahdanau" else h
        self.out = nn.Linear(out_in, c.tgt_vocab if c.tokens_out else c.output_size)
        self.drop = nn.Dropout(c.dropout)

    # --- encoding ------------------------------------------------------------------------------

    def encode(self, src: Tensor, src_lengths: Tensor | None = None) -> DecoderState:
        """src (B, S) token ids or (B, S, input_size) values -> the decoder's initial state."""
        x = self._embed_source(src)
        enc = self.encoder(x, src_lengths)
        b = src.shape[0]
        finals = enc.h_n.permute(0, 2, 1, 3).reshape(self.config.num_layers, b, -1)  # (L, B, H)
        hidden = torch.tanh(self.bridge_h(finals)).contiguous()
        cell = None
        if self.bridge_c is not None:
            cell = torch.tanh(self.bridge_c(enc.c_n.permute(0, 2, 1, 3).reshape_as(finals))).contiguous()
        memory = keys = None
        if self.attention is not None:
            memory = enc.outputs
            keys = self.attention.prepare_keys(memory)
        feed = hidden.new_zeros(b, self.config.hidden_size) if self.feeding else None
        return DecoderState(hidden, cell, feed, memory, keys, enc.mask)

    def _embed_source(self, src: Tensor) -> Tensor:
        c = self.config
        if self.src_embed is not None:
            if src.dim() != 2 or src.dtype not in (torch.int64, torch.int32):
                raise InputError(f"source: expected token ids (B, S) of int64, got {src.dtype} {tuple(src.shape)}")
            if src.numel() and (int(src.min()) < 0 or int(src.max()) >= c.src_vocab):
                raise InputError(f"source token ids must lie in [0, {c.src_vocab}), got max {int(src.max())}")
            return self.drop(self.src_embed(src))
        if src.dim() != 3 or src.shape[-1] != c.input_size or not src.is_floating_point():
            raise InputError(f"source: expected float (B, S, {c.input_size}), got {src.dtype} {tuple(src.shape)}")
        return src

    # --- one decoder step ----------------------------------------------------------------------

    def start_input(self, batch: int, device: torch.device) -> Tensor:
        """The first decoder input: BOS ids (B,) or the learned start vector (B, output_size)."""
        if self.config.tokens_out:
            return torch.full((batch,), self.config.bos_id, dtype=torch.long, device=device)
        return self.start.expand(batch, -1)

    def decoder_step(self, prev: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        """prev (B,) ids or (B, output_size) values -> (output (B, V | output_size), state, weights (B, S))."""
        y = self.drop(self.tgt_embed(prev)) if self.tgt_embed is not None else prev
        weights = context = None
        parts = [y]
        if self.config.attention == "bahdanau":
            context, weights = self._attend(state.hidden[-1], state)
            parts.append(context)
        elif self.feeding:
            parts.append(state.feed)
        rnn_out, (hidden, cell) = self._run_rnn(torch.cat(parts, -1).unsqueeze(1), state)
        s = rnn_out.squeeze(1)  # (B, H)
        feed = None
        if self.luong:
            context, weights = self._attend(s, state)
            s = feed = torch.tanh(self.combine(torch.cat([context, s], -1)))
        elif context is not None:
            s = torch.cat([s, context], -1)
        out = self.out(self.drop(s))
        return out, replace(state, hidden=hidden, cell=cell, feed=feed if self.feeding else None), weights

    def _attend(self, query: Tensor, state: DecoderState) -> tuple[Tensor, Tensor]:
        return self.attention(query, state.memory, state.memory, state.mask, prepared_keys=state.keys)

    def _run_rnn(self, x: Tensor, state: DecoderState):
        if state.cell is not None:
            out, (h, c) = self.decoder_rnn(x, (state.hidden, state.cell))
            return out, (h, c)
        out, h = self.decoder_rnn(x, state.hidden)
        return out, (h, None)

    # --- training forward ----------------------------------------------------------------------

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_lengths: Tensor | None = None,
        teacher_forcing: float = 1.0,
        start: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Seq2SeqOutput:
        """Decode ``tgt`` (B, T) ids or (B, T, output_size) values, feeding step t the gold y[t-1] with
        probability ``teacher_forcing`` and the model's own previous prediction otherwise, drawn
        independently **per sample and per step** (scheduled sampling, Bengio et al. 2015).
        ``start`` replaces the first decoder input (e.g. the last observed value when forecasting)."""
        self._check_target(tgt, src.shape[0])
        if not 0.0 <= teacher_forcing <= 1.0:
            raise InputError(f"teacher_forcing must lie in [0, 1], got {teacher_forcing}")
        state = self.encode(src, src_lengths)
        prev = self.start_input(src.shape[0], src.device) if start is None else start
        outputs, maps = [], []
        for t in range(tgt.shape[1]):
            out, state, weights = self.decoder_step(prev, state)
            outputs.append(out)
            maps.append(weights)
            prev = self._next_input(tgt[:, t], out, teacher_forcing, generator)
        attention = torch.stack(maps, 1) if self.attention is not None else None
        return Seq2SeqOutput(torch.stack(outputs, 1), attention)

    def _next_input(self, gold: Tensor, out: Tensor, ratio: float, generator) -> Tensor:
        if ratio >= 1.0:
            return gold  # no argmax needed
        own = out.argmax(-1) if self.config.tokens_out else out.detach()
        return mix_inputs(gold, own, ratio, generator)

    def _check_target(self, tgt: Tensor, batch: int) -> None:
        c = self.config
        if c.tokens_out:
            if tgt.dim() != 2 or tgt.shape[0] != batch or tgt.dtype not in (torch.int64, torch.int32):
                raise InputError(
                    f"target: expected token ids ({batch}, T) of int64, got {tgt.dtype} {tuple(tgt.shape)}"
                )
            if tgt.numel() and (int(tgt.min()) < 0 or int(tgt.max()) >= c.tgt_vocab):
                raise InputError(f"target token ids must lie in [0, {c.tgt_vocab}), got max {int(tgt.max())}")
        elif tgt.dim() != 3 or tgt.shape[0] != batch or tgt.shape[-1] != c.output_size:
            raise InputError(f"target: expected ({batch}, T, {c.output_size}) values, got {tuple(tgt.shape)}")
