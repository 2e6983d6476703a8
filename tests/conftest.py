"""Tests use tiny tensors: one thread avoids OpenMP spin contention, which made tiny ops 100× slower when another
process held the second core."""

import torch

torch.set_num_threads(1)
