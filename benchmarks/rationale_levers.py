"""CPU training levers beyond trimming, one interleaved run: where the adapted layers start (everything below is
frozen and cached) and how many retrieved examples the prompt carries.

Variants of the same trimmed Gemma-3-270M in mode ``both`` on the same demo examples: cross-attention + LoRA from
layer 9 (``9,12,15``, the part-2 default) or from layer 12 (``12,15``), with k = 2 or k = 1 retrieved examples.
Timed: one training step on cached lower states (later epochs) and the lower-layer pass that fills the cache
(first epoch only).

    .venv/bin/python benchmarks/rationale_levers.py [--n 8] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from heedful.rationale.lm.examples import collate_train, encode_all
from heedful.rationale.lm.forward import lower_states
from heedful.rationale.lm.inject import InjectConfig
from heedful.rationale.lm.loader import load_lm
from heedful.rationale.lm.model import RationaleLM, RationaleLMConfig, apply_vocab
from heedful.rationale.lm.train import LowerCache, batch_loss
from heedful.rationale.lm.vocab import build_vocab_map

from _timing import demo_rationale_setup, header

VARIANTS = {
    "layers 9,12,15, k 2": ((9, 12, 15), 2),
    "layers 12,15, k 2": ((12, 15), 2),
    "layers 12,15, k 1": ((12, 15), 1),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base, tok, examples = demo_rationale_setup(None, args.n)  # k = 2 prompts, features, retrieved examples
    samples = [e.sample for e in examples]
    retrieved = [list(e.retrieved) for e in examples]
    vmap = build_vocab_map(tok, [tok.decode(e.prompt_ids + e.target_ids) for e in examples])
    del base
    runs = {}
    for name, (layers, k) in VARIANTS.items():
        lm, _ = load_lm(None)
        lm, stok = apply_vocab(lm, tok, vmap)
        torch.manual_seed(0)
        model = RationaleLM(lm, RationaleLMConfig(mode="both", k=k, inject=InjectConfig(layers=layers))).train()
        exs = encode_all(stok, samples, [r[:k] for r in retrieved], [e.features for e in examples])
        cache = LowerCache(model, exs)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=0.0)
        ids = list(range(len(exs)))
        batch = collate_train(exs, stok.pad_token_id)

        def step(model=model, exs=exs, cache=cache, opt=opt, ids=ids, stok=stok):
            batch_loss(model, exs, ids, stok.pad_token_id, cache)[0].backward()
            opt.step()
            opt.zero_grad()

        def fill(model=model, batch=batch):
            with torch.no_grad():
                lower_states(model.clm, batch["input_ids"], batch["attention_mask"])

        step()  # fills the cache, warms up
        runs[name] = (step, fill, sum(len(e) for e in exs))
    times = {name: ([], []) for name in runs}
    for _ in range(args.repeats):
        for name, (step, fill, _) in runs.items():
            for fn, acc in ((step, times[name][0]), (fill, times[name][1])):
                start = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - start)
    header("CPU training levers (trimmed Gemma-3-270M, mode both), interleaved")
    print(f"{args.n} demo examples per step; median of {args.repeats}")
    print("| variant | tokens | step on cached states | cache fill (first epoch) | first epoch | later epochs |")
    print("|---|---|---|---|---|---|")
    ref = None
    for name, (_, _, tokens) in runs.items():
        step, fill = statistics.median(times[name][0]), statistics.median(times[name][1])
        ref = ref or (step + fill, step)
        first, later = ref[0] / (step + fill), ref[1] / step
        print(f"| {name} | {tokens} | {step:.2f} s | {fill:.2f} s | {first:.2f}x | {later:.2f}x |")


if __name__ == "__main__":
    main()
