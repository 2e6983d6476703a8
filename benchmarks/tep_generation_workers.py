"""Time the TEP simulation with 1 and 2 local dask workers on fresh caches (docs/process.md, "1 worker against 2").

    python benchmarks/tep_generation_workers.py [--train-runs 11]     # 234 runs at the default: ~7 + ~4 min

Each count runs `heedful process data --task tep_sim_faults ... --scheduler local --workers N` in a subprocess
with its own empty HEEDFUL_CACHE, so nothing is reused between the two; prints seconds and the ratio.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time


def timed(workers: int, train_runs: int) -> float:
    with tempfile.TemporaryDirectory(prefix="tep-time-") as cache:
        cmd = [sys.executable, "-m", "heedful", "process", "data", "--task", "tep_sim_faults"]
        cmd += ["--train-runs", str(train_runs), "--val-runs", "1", "--test-runs", "1", "--val-normal-runs", "1"]
        cmd += ["--workers", str(workers), "--scheduler", "local"]
        env = os.environ | {"HEEDFUL_CACHE": cache, "HF_HUB_OFFLINE": "1"}
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-runs", type=int, default=11)
    args = parser.parse_args()
    runs = 18 * (args.train_runs + 2) + 1
    one, two = timed(1, args.train_runs), timed(2, args.train_runs)
    print(f"{runs} runs: 1 worker {one:.0f} s, 2 workers {two:.0f} s, ratio {one / two:.2f}x")


if __name__ == "__main__":
    main()
