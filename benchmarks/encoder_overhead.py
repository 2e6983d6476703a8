"""Our BiRNNEncoder vs raw nn.LSTM(bidirectional=True): forward + backward, B=32, T=500, 52 inputs, H=64.

Target: overhead <= 1.10x. Run: .venv/bin/python benchmarks/encoder_overhead.py
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from heedful.sequence import BiRNNEncoder

from _timing import compare, header, row

B, T, F_IN, H = 32, 500, 52, 64


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ours = BiRNNEncoder(F_IN, H, cell="lstm")
    raw = nn.LSTM(F_IN, H, bidirectional=True, batch_first=True)
    raw.load_state_dict(ours.rnn.state_dict())
    x = torch.randn(B, T, F_IN)
    lengths = torch.randint(T // 2, T + 1, (B,))
    lengths[0] = T

    def ours_full():
        ours(x).outputs.sum().backward()

    def raw_full():
        raw(x)[0].sum().backward()

    def ours_packed():
        ours(x, lengths).outputs.sum().backward()

    def raw_packed():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(raw(packed)[0], batch_first=True, total_length=T)
        out.sum().backward()

    header(f"Bi-LSTM encoder, forward + backward, B={B}, T={T}, inputs={F_IN}, H={H}")
    print("| case | ours | baseline | ratio (ours / baseline) |\n|---|---|---|---|")
    row("full-length batch", *compare(ours_full, raw_full, repeats=10), "nn.LSTM")
    row("variable lengths (packed)", *compare(ours_packed, raw_packed, repeats=10), "nn.LSTM + pack/pad")


if __name__ == "__main__":
    main()
