"""Rationale LM training speed: our trainer's step vs a plain transformers + PEFT loop.

Same model (packaged Gemma-3-270M unless --lm), same trainable weights (LoRA on the attention projections from the
first injected layer up, gated cross-attention, graph encoder), same examples (embedded demo set, mode ``both``:
retrieved examples in the prompt), same batch size and optimiser. The plain loop calls ``model(**batch,
labels=...)`` (full-vocabulary logits at every position, the whole stack every step, batches in random order); ours
caches the frozen lower layers, runs the LM head at rationale positions only and groups similar lengths.
Reported: tokens (prompt + rationale) per second; ours on its first epoch (cache being filled) and after.

    .venv/bin/python benchmarks/rationale_train.py [--n 24] [--batch-size 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import random
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from heedful.rationale.graph.encoder import make_batch
from heedful.rationale.lm.examples import collate_train
from heedful.rationale.lm.train import LowerCache, batch_loss, length_batches

from _timing import demo_rationale_setup, header


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", default=None, help="local causal-LM folder (default: packaged Gemma-3-270M)")
    ap.add_argument("--n", type=int, default=24, help="training examples")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model, tok, examples = demo_rationale_setup(args.lm, args.n)
    model.train()
    lm = model.lm
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    pad = tok.pad_token_id
    tokens = sum(len(e) for e in examples)
    labels = sum(len(e.target_ids) for e in examples)

    def step(loss):
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def plain_epoch(seed: int) -> float:
        order = list(range(len(examples)))
        random.Random(seed).shuffle(order)
        start = time.perf_counter()
        for b in range(0, len(order), args.batch_size):
            chosen = [examples[i] for i in order[b : b + args.batch_size]]
            batch = collate_train(chosen, pad)
            graph = make_batch([e.sample for e in chosen], [e.features for e in chosen], model.cfg.graph)
            with model.condition(graph):
                step(model.lm(**batch).loss)
        return time.perf_counter() - start

    cache = LowerCache(model, examples)

    def our_epoch(seed: int) -> float:
        start = time.perf_counter()
        for ids in length_batches(examples, args.batch_size, seed):
            step(batch_loss(model, examples, ids, pad, cache)[0])
        return time.perf_counter() - start

    plain_epoch(99)  # warm-up (allocator, first-call overheads), not timed
    t_plain1 = plain_epoch(0)
    t_ours1 = our_epoch(0)  # fills the lower-layer cache
    t_plain2 = plain_epoch(1)
    t_ours2 = our_epoch(1)
    plain = (t_plain1 + t_plain2) / 2

    header("Rationale LM training: our trainer vs plain transformers + PEFT loop")
    print(
        f"model: {type(lm).__name__}, {len(model.clm.layers)} layers, xattn at {list(model.clm.layer_ids)}, "
        f"{sum(p.numel() for p in params) / 1e6:.2f} M trainable; {len(examples)} examples, batch {args.batch_size}, "
        f"{tokens} tokens ({labels} rationale tokens) per epoch, mean length {tokens / len(examples):.0f}"
    )
    print("| loop | seconds / epoch | tokens / s | speed-up vs plain |")
    print("|---|---|---|---|")
    print(f"| plain transformers + PEFT (mean of 2 epochs) | {plain:.1f} | {tokens / plain:.0f} | 1.00x |")
    for label, t in (("ours, first epoch (filling the cache)", t_ours1), ("ours, later epochs", t_ours2)):
        print(f"| {label} | {t:.1f} | {tokens / t:.0f} | {plain / t:.2f}x |")


if __name__ == "__main__":
    main()
