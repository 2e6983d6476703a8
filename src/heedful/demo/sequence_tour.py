"""The sequence part of ``heedful demo``: two small jobs on embedded synthetic data, each with a picture.

1. Seq2Seq reversal, with and without Bahdanau attention: exact-match accuracy (greedy and beam 5)
   and the attention map of one example (an anti-diagonal when the model has learned to reverse).
2. Fault detection: a bi-GRU with attention pooling classifies signals, half of which carry a short
   fault ramp; we report accuracy and how much attention falls inside the fault window.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from heedful.demo.config import SequenceTourConfig
from heedful.sequence import Seq2Seq, Seq2SeqConfig, SequenceModel, beam_search, greedy_decode
from heedful.sequence.synthetic import fault_task, reversal_task


def _fit(model: torch.nn.Module, n: int, loss_fn, cfg: SequenceTourConfig, desc: str) -> float:
    """Plain Adam epochs over shuffled minibatches; returns the last epoch's mean loss."""
    opt = torch.optim.Adam(model.parameters(), cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()
    mean = float("nan")
    for _ in tqdm(range(cfg.epochs), desc=desc, unit="epoch", leave=False):
        losses = []
        for idx in torch.randperm(n, generator=g).split(cfg.batch_size):
            loss = loss_fn(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        mean = sum(losses) / len(losses)
    model.eval()
    return mean


def _exact_match(pred: torch.Tensor, gold: torch.Tensor) -> float:
    pred = F.pad(pred, (0, max(0, gold.shape[1] - pred.shape[1])))[:, : gold.shape[1]]
    return (pred == gold).all(1).float().mean().item()


def run_reversal(cfg: SequenceTourConfig, out_dir: Path) -> dict:
    from heedful.viz import attention_heatmap

    src, lengths, tgt = reversal_task(cfg.n_train, cfg.vocab, 3, 7, seed=cfg.seed)
    vs, vl, vt = reversal_task(cfg.n_test, cfg.vocab, 3, 7, seed=cfg.seed + 1)
    metrics = {}
    for attention in ("bahdanau", None):
        torch.manual_seed(cfg.seed)
        model = Seq2Seq(
            Seq2SeqConfig(
                src_vocab=cfg.vocab, tgt_vocab=cfg.vocab, attention=attention, hidden_size=cfg.hidden_size, embed_dim=32
            )
        )

        def loss_fn(idx, model=model):
            logits = model(src[idx], tgt[idx], lengths[idx]).outputs
            return F.cross_entropy(logits.transpose(1, 2), tgt[idx], ignore_index=0)

        start = time.perf_counter()
        loss = _fit(model, cfg.n_train, loss_fn, cfg, f"reversal ({attention or 'no attention'})")
        name = attention or "no_attention"
        greedy = greedy_decode(model, vs, vl, max_len=vt.shape[1])
        beam = beam_search(model, vs, vl, beam_size=5, max_len=vt.shape[1])
        metrics[name] = {
            "train_seconds": round(time.perf_counter() - start, 2),
            "final_loss": round(loss, 4),
            "exact_match_greedy": round(_exact_match(greedy.tokens, vt), 4),
            "exact_match_beam5": round(_exact_match(beam.tokens[:, 0], vt), 4),
            "parameters": sum(p.numel() for p in model.parameters()),
        }
        if attention:
            i = int(vl.argmax())  # the longest example makes the clearest anti-diagonal
            n_in, n_out = int(vl[i]), int(greedy.lengths[i])
            attention_heatmap(
                greedy.attention[i, :n_out, :n_in],
                out_dir / "reversal_attention.png",
                x_labels=[str(t) for t in vs[i, :n_in].tolist()],
                y_labels=[_token_label(t) for t in greedy.tokens[i, :n_out].tolist()],
                title="Bahdanau attention: reversal",
                xlabel="input token",
                ylabel="output token",
            )
    return metrics


def _token_label(token: int) -> str:
    return {0: "<pad>", 1: "<bos>", 2: "<eos>"}.get(token, str(token))


def run_fault_detection(cfg: SequenceTourConfig, out_dir: Path) -> dict:
    from heedful.viz import attention_over_time

    fault_len = 8
    x, y, _ = fault_task(cfg.n_train, fault_len=fault_len, seed=cfg.seed)
    tx, ty, tonset = fault_task(cfg.n_test, fault_len=fault_len, seed=cfg.seed + 1)
    torch.manual_seed(cfg.seed)
    model = SequenceModel.build(x.shape[-1], 2, pooling="attention", hidden_size=32, cell="gru")

    def loss_fn(idx):
        return F.cross_entropy(model(x[idx]).prediction, y[idx])

    start = time.perf_counter()
    loss = _fit(model, cfg.n_train, loss_fn, cfg, "fault detection (bi-GRU + attention)")
    with torch.no_grad():
        out = model(tx)
    accuracy = (out.prediction.argmax(-1) == ty).float().mean().item()
    faulty = torch.nonzero(ty).flatten()
    steps = torch.arange(tx.shape[1])
    in_window = (steps >= tonset[faulty, None]) & (steps < tonset[faulty, None] + fault_len)
    mass = (out.attention[faulty] * in_window).sum(1).mean().item()
    i = int(faulty[0])
    s = int(tonset[i])
    attention_over_time(
        out.attention[i],
        out_dir / "fault_attention.png",
        signal=tx[i],
        windows=[(s, s + fault_len, "fault")],
        title="Bi-GRU + attention pooling: where the classifier looked",
    )
    return {
        "train_seconds": round(time.perf_counter() - start, 2),
        "final_loss": round(loss, 4),
        "accuracy": round(accuracy, 4),
        "attention_mass_in_fault_window": round(mass, 4),
        "fault_window_share_of_steps": round(fault_len / tx.shape[1], 4),
    }


def run_sequence_tour(cfg: SequenceTourConfig, out_dir: Path) -> dict:
    reversal = run_reversal(cfg, out_dir)
    return {"config": asdict(cfg), "reversal": reversal, "fault_detection": run_fault_detection(cfg, out_dir)}
