"""The CPU's fp32 matmul peak, for reading training throughput as a share of what the machine can do.

Best of ``--repeats`` products of two n x n float32 matrices (2 n^3 FLOP each), with 1 thread and with every
thread torch uses. docs/rationale-lm.md divides the trainer's GFLOP/s (tokens/s x FLOP per token) by these.

    python benchmarks/matmul_peak.py [--n 1024] [--repeats 15]
"""

from __future__ import annotations

import argparse
import time

import torch


def peak(n: int, repeats: int, threads: int) -> float:
    """Best GFLOP/s of ``repeats`` n x n matmuls with ``threads`` threads."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b  # warm-up: thread pool and caches
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
        return 2 * n**3 / best / 1e9
    finally:
        torch.set_num_threads(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    every = torch.get_num_threads()
    print(f"torch {torch.__version__}, fp32 {args.n}x{args.n} matmul, best of {args.repeats}")
    for threads in sorted({1, every}):
        print(f"{threads} thread(s): {peak(args.n, args.repeats, threads):.1f} GFLOP/s")


if __name__ == "__main__":
    main()
