"""Vocabulary trimming: training step and generation, trimmed vs untrimmed Gemma-3-270M, in one interleaved run.

Same weights, same examples (embedded demo set, mode ``both``, 2 retrieved examples), same trainable parts; the
trimmed copy keeps the demo's tokens + special + byte tokens, padded with the lowest other ids to ``--keep`` tokens
(6,414 is what the 2,310 research training samples keep). Training: our step (cached lower layers, head at label
positions, backward, AdamW). Generation: greedy with KV cache, ``--new`` tokens forced per prompt, batch 8.
Each pair is timed alternately (``_timing.compare``), so machine load hits both alike.

    .venv/bin/python benchmarks/rationale_trim.py [--n 8] [--keep 6414] [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from heedful.rationale.lm.examples import collate_prompts
from heedful.rationale.lm.generate import quantize_frozen
from heedful.rationale.lm.loader import load_lm
from heedful.rationale.lm.model import RationaleLM, apply_vocab
from heedful.rationale.lm.train import LowerCache, batch_loss
from heedful.rationale.lm.vocab import VocabMap, build_vocab_map

from _timing import compare, demo_rationale_setup, header


def trimmed_twin(model: RationaleLM, tok, examples, keep: int, lm_spec):
    """The same model on a trimmed copy of the base LM (same trainable weights), its tokenizer and map."""
    lm, _ = load_lm(lm_spec)
    base = lm.get_input_embeddings().num_embeddings
    texts = [tok.decode(e.prompt_ids + e.target_ids) for e in examples]
    vmap = build_vocab_map(tok, texts, base)
    pad = [i for i in range(base) if i not in set(vmap.kept)][: max(0, keep - len(vmap))]
    vmap = VocabMap(base, tuple(sorted({*vmap.kept, *pad})))
    small_lm, small_tok = apply_vocab(lm, tok, vmap)
    small = RationaleLM(small_lm, model.cfg)
    small.load_trainable(model.trainable_state(), "twin")
    return small, small_tok, vmap


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm", default=None)
    ap.add_argument("--n", type=int, default=8, help="examples (one training batch, one generation batch)")
    ap.add_argument("--keep", type=int, default=6414, help="tokens kept by the trimmed copy")
    ap.add_argument("--new", type=int, default=32, help="generated tokens per prompt")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-train", action="store_true", help="time generation only")
    ap.add_argument("--int8", action="store_true", help="also: trimmed + int8 frozen linear layers (generation)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model, tok, examples = demo_rationale_setup(args.lm, args.n, reserve=args.new)
    small, stok, vmap = trimmed_twin(model, tok, examples, args.keep, args.lm)
    small_ex = [  # the same prompts (with retrieved examples), in new ids
        dataclasses.replace(e, prompt_ids=stok.to_new(e.prompt_ids), target_ids=stok.to_new(e.target_ids))
        for e in examples
    ]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.0)  # the step's cost without moving the weights
    ids = list(range(len(examples)))

    def train_step(m, t, exs, cache):
        def run():
            loss = batch_loss(m, exs, ids, t.pad_token_id, cache)[0]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

        return run

    def gen(m, t, exs):
        from heedful.rationale.graph.encoder import make_batch

        inputs = collate_prompts(exs, t.pad_token_id)
        graph = make_batch([e.sample for e in exs], [e.features for e in exs], m.cfg.graph)

        def run():
            with torch.no_grad(), m.condition(graph):
                m.lm.generate(**inputs, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False,
                              pad_token_id=t.pad_token_id)  # fmt: skip

        return run

    if not args.skip_train:
        model.train()
        small.train()
        big_step = train_step(model, tok, examples, LowerCache(model, examples))
        small_step = train_step(small, stok, small_ex, LowerCache(small, small_ex))
        t_small, t_big = compare(small_step, big_step, repeats=args.repeats, warmup=1)
    model.eval()
    small.eval()
    g_small, g_big = compare(gen(small, stok, small_ex), gen(model, tok, examples), repeats=args.repeats, warmup=1)
    if args.int8:
        q, qtok, _ = trimmed_twin(model, tok, examples, args.keep, args.lm)
        quantize_frozen(q.eval())
        g_q, g_big8 = compare(gen(q, qtok, small_ex), gen(model, tok, examples), repeats=args.repeats, warmup=1)

    tokens = sum(len(e) for e in examples)
    new = args.new * len(examples)
    header("Vocabulary trimming: trimmed vs untrimmed Gemma-3-270M, interleaved")
    print(
        f"{len(examples)} examples ({tokens} tokens, {sum(len(e.target_ids) for e in examples)} rationale tokens); "
        f"vocabulary {len(vmap)} of {vmap.base_size} tokens ({len(vmap) / vmap.base_size:.1%}); median of "
        f"{args.repeats}"
    )
    print("| | untrimmed | trimmed | speed-up |")
    print("|---|---|---|---|")
    if not args.skip_train:
        print(
            f"| training step (batch {len(examples)}) | {t_big:.2f} s, {tokens / t_big:.0f} tok/s | "
            f"{t_small:.2f} s, {tokens / t_small:.0f} tok/s | **{t_big / t_small:.2f}x** |"
        )
    print(
        f"| generation ({args.new} new tokens x {len(examples)}) | {g_big:.2f} s, {new / g_big:.1f} tok/s | "
        f"{g_small:.2f} s, {new / g_small:.1f} tok/s | **{g_big / g_small:.2f}x** |"
    )
    if args.int8:
        print(f"| generation, trimmed + int8 frozen layers | {g_big8:.2f} s, {new / g_big8:.1f} tok/s | "
              f"{g_q:.2f} s, {new / g_q:.1f} tok/s | **{g_big8 / g_q:.2f}x** |")  # fmt: skip


if __name__ == "__main__":
    main()
