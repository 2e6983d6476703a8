"""Batched beam search vs a per-sample loop on the same model (beam 5, 64 inputs, 25 steps).

Both sides call the same ``beam_search``; the loop passes one unpadded input at a time, as a user
without batched search would. Target: batched >= 10x faster.
Run: .venv/bin/python benchmarks/beam_batched.py
"""

from __future__ import annotations

import torch

from heedful.sequence import Seq2Seq, Seq2SeqConfig, beam_search

from _timing import compare, header

B, S, BEAM, MAX_LEN = 64, 20, 5, 25
# (label, vocabulary, hidden size): a process-scale decoder and a small NMT-scale one
SIZES = [("vocab 64, H=64", 64, 64), ("vocab 1000, H=128", 1000, 128)]


def measure(model, src, lengths) -> tuple[float, float, bool]:
    def batched():
        return beam_search(model, src, lengths, beam_size=BEAM, max_len=MAX_LEN, length_penalty_alpha=0.6)

    def looped():
        return [
            beam_search(
                model, src[i : i + 1, : int(lengths[i])], beam_size=BEAM, max_len=MAX_LEN, length_penalty_alpha=0.6
            )
            for i in range(src.shape[0])
        ]

    together = batched()
    same = all(torch.equal(together.tokens[i, :, : r.tokens.shape[-1]], r.tokens[0]) for i, r in enumerate(looped()))
    t_batched, t_looped = compare(batched, looped, repeats=3, warmup=1)
    return t_batched, t_looped, same


def main() -> None:
    torch.set_num_threads(1)
    header(f"Beam search, beam {BEAM}, B={B}, source length <= {S}, {MAX_LEN} decoder steps")
    print("| model | attention | batched | per-sample loop | speed-up (loop / batched) | same hypotheses |")
    print("|---|---|---|---|---|---|")
    for label, vocab, hidden in SIZES:
        torch.manual_seed(0)
        src = torch.randint(3, vocab, (B, S))
        lengths = torch.randint(S // 2, S + 1, (B,))
        for attention in ("luong_general", "bahdanau", None):
            torch.manual_seed(0)
            cfg = Seq2SeqConfig(src_vocab=vocab, tgt_vocab=vocab, hidden_size=hidden, embed_dim=32, attention=attention)
            t_b, t_l, same = measure(Seq2Seq(cfg).eval(), src, lengths)
            times = f"{t_b * 1e3:.1f} ms | {t_l * 1e3:.1f} ms | {t_l / t_b:.1f}x"
            print(f"| {label} | {attention or 'none'} | {times} | {same} |")


if __name__ == "__main__":
    main()
