"""IndPenSim batch simulation: our solver path vs pensimpy's own (fast=False), seconds per batch.

``reference``: pensimpy's plain-Python right-hand side, odeint asked for 41 points per 12-minute step.
``fast``: our rewrite of the same right-hand side (``heedful.process.sources._indpensim_ode``), odeint asked for the
step's end point only. Both run through the same adapter (backward recipe, no Raman simulation), alternately.
Also reports the largest relative difference between the two batches' channels.

Run: .venv/bin/python benchmarks/process_indpensim.py [--steps 1150] [--repeats 1]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from heedful.process.sources import indpensim as ip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=ip.FULL_STEPS, help="steps per batch (default: 1150 = 230 h)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"fast": [], "reference": []}
    batches = {}
    ip.simulate(ip.BatchSpec(seed=1, steps=5))  # import pensimpy outside the timed runs
    for r in range(args.repeats):
        for solver in times:
            start = time.perf_counter()
            batches[solver] = ip.simulate(ip.BatchSpec(seed=1 + 50 * r, steps=args.steps, solver=solver))
            times[solver].append(time.perf_counter() - start)
    fast, ref = statistics.median(times["fast"]), statistics.median(times["reference"])
    a, b = batches["fast"].values.astype(np.float64), batches["reference"].values.astype(np.float64)
    rel = float((np.abs(a - b).max(0) / (np.abs(b).max(0) + 1e-12)).max())
    print(f"## IndPenSim simulation, {args.steps} steps per batch ({args.steps * ip.STEP_HOURS:.0f} h)")
    print(f"python {platform.python_version()}, {platform.processor() or platform.machine()}, one process")
    print("| solver | s per batch | ratio |")
    print("|---|---|---|")
    print(f"| pensimpy reference (fast=False) | {ref:.2f} | 1.00x |")
    print(f"| heedful fast (our rhs, end point only) | {fast:.2f} | {ref / fast:.2f}x faster |")
    print(f"largest relative channel difference between the two batches: {rel:.1e}")


if __name__ == "__main__":
    main()
