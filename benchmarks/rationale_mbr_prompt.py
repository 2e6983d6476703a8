"""MBR candidates: one prompt pass per sample (``shared_prompt``) vs ``generate(num_return_sequences=n)``, which runs
each prompt n times, in one interleaved run.

The trimmed Gemma-3-270M (as trained at full scale) on the embedded demo prompts (mode ``both``, 2 retrieved
examples), ``--n`` candidates per prompt by nucleus sampling, ``--new`` tokens forced per candidate, batch 8; the
same seed for both, so both sample the same candidates.

    .venv/bin/python benchmarks/rationale_mbr_prompt.py [--n 4] [--new 48] [--threads 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from heedful.rationale.graph.encoder import make_batch
from heedful.rationale.lm.examples import collate_prompts
from heedful.rationale.lm.generate import shared_prompt
from rationale_trim import trimmed_twin

from _timing import compare, demo_rationale_setup, header


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", default=None)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--n", type=int, default=4, help="candidates per prompt")
    ap.add_argument("--new", type=int, default=48, help="generated tokens per candidate")
    ap.add_argument("--keep", type=int, default=6414)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, tok, examples = demo_rationale_setup(args.lm, args.prompts, reserve=args.new)
    model, tok, _ = trimmed_twin(model, tok, examples, args.keep, args.lm)
    examples = [
        dataclasses.replace(e, prompt_ids=tok.to_new(e.prompt_ids), target_ids=tok.to_new(e.target_ids))
        for e in examples
    ]
    model.eval()
    inputs = collate_prompts(examples, tok.pad_token_id)
    graph = make_batch([e.sample for e in examples], [e.features for e in examples], model.cfg.graph)
    kwargs = dict(max_new_tokens=args.new, min_new_tokens=args.new, do_sample=True, temperature=0.8, top_p=0.95,
                  top_k=0, pad_token_id=tok.pad_token_id)  # fmt: skip
    outs = {}

    def run(shared: bool):
        def go():
            torch.manual_seed(0)
            with torch.no_grad(), model.condition(graph):
                if shared:
                    outs["shared"] = model.lm.generate(**shared_prompt(model.lm, inputs, args.n), **kwargs)
                else:
                    outs["plain"] = model.lm.generate(**inputs, num_return_sequences=args.n, **kwargs)

        return go

    t_shared, t_plain = compare(run(True), run(False), repeats=args.repeats, warmup=1)
    same = (outs["shared"] == outs["plain"]).float().mean().item()
    prompt = int(inputs["attention_mask"].sum())
    header("MBR candidates: one prompt pass vs num_return_sequences, interleaved")
    print(f"{len(examples)} prompts ({prompt} prompt tokens), {args.n} candidates x {args.new} new tokens each, "
          f"median of {args.repeats}; identical tokens in the two outputs: {same:.1%}")  # fmt: skip
    print("| | num_return_sequences | one prompt pass | speed-up |")
    print("|---|---|---|---|")
    print(f"| {args.n} candidates for {len(examples)} prompts | {t_plain:.2f} s | {t_shared:.2f} s | "
          f"**{t_plain / t_shared:.2f}x** |")  # fmt: skip


if __name__ == "__main__":
    main()
