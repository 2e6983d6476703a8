"""Small synthetic tasks for demos and tests, generated in-process from a seed."""

from __future__ import annotations

import torch
from torch import Tensor

from heedful.errors import InputError

PAD, BOS, EOS, FIRST_SYMBOL = 0, 1, 2, 3


def reversal_task(
    n: int, vocab: int = 12, min_len: int = 4, max_len: int = 9, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Token sequences and their reversals: returns src (n, max_len) padded with PAD, lengths (n,),
    tgt (n, max_len + 1) = reversed tokens + EOS, padded with PAD."""
    if not 1 <= min_len <= max_len or vocab <= FIRST_SYMBOL:
        raise InputError(f"need 1 <= min_len <= max_len and vocab > {FIRST_SYMBOL}, got {min_len}, {max_len}, {vocab}")
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=g)
    tokens = torch.randint(FIRST_SYMBOL, vocab, (n, max_len), generator=g)
    steps = torch.arange(max_len)
    valid = steps.unsqueeze(0) < lengths.unsqueeze(1)
    src = tokens.masked_fill(~valid, PAD)
    # reversed index of step t in a sequence of length L is L - 1 - t
    rev_idx = (lengths.unsqueeze(1) - 1 - steps).clamp_min(0)
    tgt = torch.full((n, max_len + 1), PAD)
    tgt[:, :max_len] = torch.where(valid, src.gather(1, rev_idx), PAD)
    tgt[torch.arange(n), lengths] = EOS
    return src, lengths, tgt


def fault_task(
    n: int, steps: int = 60, channels: int = 4, fault_len: int = 8, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """Noisy multichannel signals; half carry a transient ramp on channel 0 in a random window.

    Returns x (n, steps, channels), label (n,) 1 = faulty, onset (n,) start of the window (-1 if none).
    A good classifier must look at the window, which makes its attention easy to check by eye.
    """
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 6.28, steps)
    phase = torch.rand(n, 1, channels, generator=g) * 6.28
    x = torch.sin(t.view(1, -1, 1) + phase) * 0.5 + 0.3 * torch.randn(n, steps, channels, generator=g)
    label = (torch.rand(n, generator=g) < 0.5).long()
    onset = torch.randint(5, steps - fault_len - 5, (n,), generator=g)
    ramp = torch.linspace(0.5, 2.0, fault_len)
    for i in torch.nonzero(label).flatten().tolist():
        s = int(onset[i])
        x[i, s : s + fault_len, 0] += ramp
    return x, label, torch.where(label.bool(), onset, torch.full_like(onset, -1))
