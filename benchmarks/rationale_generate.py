"""Rationale generation speed with cross-attention on vs the same model without it.

Same model (packaged Gemma-3-270M unless --lm, LoRA + gated cross-attention blocks at the default layers), same
prompts (embedded demo set, mode ``both``), same batch size, greedy decoding with a KV cache and a fixed number of
new tokens (``min_new_tokens = max_new_tokens``), so both sides emit exactly the same number of tokens. "Off" runs
the model with no condition: the wrapped layers skip the cross-attention block.

    .venv/bin/python benchmarks/rationale_generate.py [--n 16] [--batch-size 8] [--new-tokens 48] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from heedful.rationale.graph.encoder import make_batch
from heedful.rationale.lm.examples import collate_prompts

from _timing import demo_rationale_setup, header


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", default=None, help="local causal-LM folder (default: packaged Gemma-3-270M)")
    ap.add_argument("--n", type=int, default=16, help="prompts")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model, tok, examples = demo_rationale_setup(args.lm, args.n, reserve=args.new_tokens)
    model.eval()
    with torch.no_grad():  # open the gates, as after training, so the blocks do real work
        for block in model.clm.blocks():
            block.attn_gate.gate.fill_(0.1)
            block.ff_gate.gate.fill_(0.1)
    batches = [examples[i : i + args.batch_size] for i in range(0, len(examples), args.batch_size)]
    kw = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False)

    @torch.no_grad()
    def run(with_xattn: bool) -> float:
        start = time.perf_counter()
        for chosen in batches:
            inputs = collate_prompts(chosen, tok.pad_token_id)
            graph = make_batch([e.sample for e in chosen], [e.features for e in chosen], model.cfg.graph)
            with model.condition(graph if with_xattn else None):
                model.lm.generate(**inputs, pad_token_id=tok.pad_token_id, **kw)
        return time.perf_counter() - start

    run(True)  # warm-up
    on, off = [], []
    for _ in range(args.repeats):  # alternate so load drift hits both
        on.append(run(True))
        off.append(run(False))
    t_on, t_off = min(on), min(off)
    new = len(examples) * args.new_tokens
    header("Rationale generation: cross-attention on vs off (same model, same prompts)")
    print(
        f"{len(examples)} prompts (mean {sum(len(e.prompt_ids) for e in examples) / len(examples):.0f} tokens), "
        f"batch {args.batch_size}, {args.new_tokens} new tokens each, greedy with KV cache, "
        f"xattn at layers {list(model.clm.layer_ids)}; best of {args.repeats}"
    )
    print("| generation | seconds | new tokens / s | ratio |")
    print("|---|---|---|---|")
    print(f"| without cross-attention | {t_off:.1f} | {new / t_off:.1f} | 1.00x |")
    print(f"| with cross-attention | {t_on:.1f} | {new / t_on:.1f} | {t_off / t_on:.2f}x |")


if __name__ == "__main__":
    main()
