"""Our BiRNNEncoder, forward + backward, B=32, T=500, 52 inputs, H=64, one thread.

Targets: full-length batch vs raw nn.LSTM(bidirectional=True) <= 1.10x; a batch of uneven lengths (exact: the
backward direction starts at each sequence's own end) vs a full-length batch of the same shape <= 1.3x. The last
row is the packed nn.LSTM path the encoder used before, for reference.
Run: .venv/bin/python benchmarks/encoder_overhead.py
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

    def ours_uneven():
        ours(x, lengths).outputs.sum().backward()

    def raw_packed():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(raw(packed)[0], batch_first=True, total_length=T)
        out.sum().backward()

    header(f"Bi-LSTM encoder, forward + backward, B={B}, T={T}, inputs={F_IN}, H={H}, lengths {T // 2}..{T}")
    print("| case | ours | baseline | ratio (ours / baseline) |\n|---|---|---|---|")
    row("full-length batch", *compare(ours_full, raw_full, repeats=10), "nn.LSTM")
    row("uneven lengths vs full length", *compare(ours_uneven, ours_full, repeats=10), "ours, full-length batch")
    row("uneven lengths vs packing", *compare(ours_uneven, raw_packed, repeats=5), "nn.LSTM + pack/pad")


if __name__ == "__main__":
    main()
