"""Our MultiHeadAttention (no weights requested) vs nn.MultiheadAttention(need_weights=False).

Self-attention, B=32, T=256, E=128, 8 heads. Target: <= 1.10x.
Run: .venv/bin/python benchmarks/mha_overhead.py
"""

from __future__ import annotations

import torch
from torch import nn

from heedful.attention import MultiHeadAttention

from _timing import compare, header, row

B, T, E, HEADS = 32, 256, 128, 8


def copy_weights(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q_weight, ours.k_weight, ours.v_weight]))
        ref.in_proj_bias.copy_(ours.in_bias)
        ref.out_proj.weight.copy_(ours.attn_out.weight)
        ref.out_proj.bias.copy_(ours.attn_out.bias)


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ours = MultiHeadAttention(E, HEADS)
    ref = nn.MultiheadAttention(E, HEADS, batch_first=True)
    copy_weights(ours, ref)
    x = torch.randn(B, T, E)
    key_mask = torch.ones(B, T, dtype=torch.bool)
    key_mask[:, -32:] = False

    header(f"Multi-head self-attention, B={B}, T={T}, E={E}, heads={HEADS}, no weights returned")
    print("| case | ours | baseline | ratio (ours / baseline) |\n|---|---|---|---|")
    row(
        "train: forward + backward",
        *compare(lambda: ours(x)[0].sum().backward(), lambda: ref(x, x, x, need_weights=False)[0].sum().backward()),
        "nn.MultiheadAttention",
    )
    row(
        "train: forward + backward, key padding mask",
        *compare(
            lambda: ours(x, key_mask=key_mask)[0].sum().backward(),
            lambda: ref(x, x, x, key_padding_mask=~key_mask, need_weights=False)[0].sum().backward(),
        ),
        "nn.MultiheadAttention",
    )
    ours.eval()
    ref.eval()
    with torch.no_grad():
        row(
            "inference (eval, no_grad)",
            *compare(lambda: ours(x), lambda: ref(x, x, x, need_weights=False)),
            "nn.MultiheadAttention, eval",
        )


if __name__ == "__main__":
    main()
