"""Load check of `heedful serve` on loopback: start the service in a subprocess, post from N concurrent clients for a
fixed time, print throughput, p50/p99 latency, answers by HTTP status, and how many answers differ from the direct
library call for the same input.

    python benchmarks/serve_load.py --process RUN [--clients 8 --seconds 5]
    python benchmarks/serve_load.py --index INDEX_RUN [--clients 8 --seconds 5]
    python benchmarks/serve_load.py --knn        # a throw-away index of the demo set (hash:64 encoder)
    python benchmarks/serve_load.py --index INDEX_RUN --data FILE --split dev --pattern distinct

The knn bodies (``--pattern``): ``repeat`` posts the dev dialogues round-robin (the same few again and again),
``distinct`` posts each dialogue at most once (the run ends early when they are used up), ``growing`` replays
conversations turn by turn (the request at turn t holds turns 1..t, its change inferred), ``--clients``
conversations at a time, each client one turn after the other. The service keeps utterance vectors
(``HEEDFUL_VECTOR_CACHE`` texts, 0: off), so what repeats is not encoded again.

Without a run it builds a throw-away one first: a 2-epoch Tennessee Eastman bi-GRU + attention (window 40,
hidden 64, faults 1, 2 and 4), or with --knn an index of the demo set's training split with the hash:64 encoder.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from heedful.serve.loadcheck import (
    compare_process,
    compare_rationale,
    knn_bodies,
    process_bodies,
    run_load,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise SystemExit("the service did not come up in time")


def tiny_process_run(root: Path) -> Path:
    from heedful.process.runner import train_run
    from heedful.process.train import TrainConfig

    params = {"window": 20, "faults": (0, 1, 2, 4)}
    return train_run(
        "tep_faults", "bigru_attn", params, {"hidden_size": 16}, TrainConfig(epochs=2), root, progress=False
    )


def tiny_index(root: Path) -> Path:
    from heedful.rationale.data.config import DataConfig, load_split
    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.rationale.retrieval.store import build_index

    train = load_split(DataConfig(split="train")).samples
    return build_index(train, KeyConfig(encoder="hash:64"), root / "index")


def growing(samples, clients: int) -> list:
    """Every prefix of at least two turns of each dialogue, as a conversation sends them: ``clients`` conversations
    at a time, turn-major, so that the k-th request in flight is the next turn of the k-th conversation."""
    from dataclasses import replace

    from heedful.rationale.data.schema import infer_change

    out = []
    for start in range(0, len(samples), clients):
        group = samples[start : start + clients]
        for t in range(2, max(len(s.utterances) for s in group) + 1):
            for s in group:
                if t <= len(s.utterances):
                    turns = s.utterances[:t]
                    sid = f"{s.sample_id}-t{t}"
                    out.append(replace(s, sample_id=sid, utterances=turns, emo_change=infer_change(turns, sid)))
    return out


def rationale_bodies(index: str, samples) -> tuple[list[dict], list[list[dict]]]:
    """One dialogue per body and the library's answer for it (``predict_knn`` once for all: the vector of a text
    does not depend on the texts encoded with it)."""
    from heedful.rationale.data.loaders import sample_to_dict
    from heedful.rationale.retrieval.store import predict_knn

    answers = predict_knn(index, samples, 1, True, exclude_clip=False)
    return [{"dialogues": [sample_to_dict(s)]} for s in samples], [[a] for a in answers]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--process", help="a process train run (default: a throw-away one)")
    p.add_argument("--index", help="a rationale index run (knn)")
    p.add_argument("--knn", action="store_true", help="serve a throw-away knn index of the demo set")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--max-requests", type=int, default=20_000)
    p.add_argument("--windows", type=int, default=1, help="process windows per request")
    p.add_argument("--threads", type=int, help="the service's --threads (default: its own default)")
    p.add_argument("--data", help="knn: dialogues from this file (default: the demo set)")
    p.add_argument("--split", default="dev", choices=("train", "dev", "all"), help="knn: split of --data")
    p.add_argument("--pattern", default="repeat", choices=("repeat", "distinct", "growing"), help="knn bodies")
    p.add_argument("--seed", type=int, default=0, help="knn: shuffles distinct / growing dialogues (-1: file order)")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="heedful-load-"))
    if args.knn and not args.index:
        args.index = str(tiny_index(tmp))
    if args.index:
        serve = ["--method", "knn", "--index", args.index]
    else:
        args.process = args.process or str(tiny_process_run(tmp))
        serve = ["--process", args.process]
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "heedful", "serve", *serve, "--port", str(port), "--queue-size", "256"]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    proc = subprocess.Popen(cmd, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        if args.index:
            from heedful.rationale.data.config import DataConfig, load_split

            dev = load_split(DataConfig(data=args.data, split=args.split)).samples
            if args.seed >= 0 and args.pattern != "repeat":
                dev = [dev[i] for i in random.Random(args.seed).sample(range(len(dev)), len(dev))]
            if args.pattern == "growing":
                dev = growing(dev, args.clients)
            if args.pattern == "repeat":
                bodies, expected = knn_bodies(args.index, dev)
            else:
                bodies, expected = rationale_bodies(args.index, dev)
                args.max_requests = min(args.max_requests, len(bodies))  # each body once
            path, compare = "/v1/rationale", compare_rationale
        else:
            from heedful.serve.models import ProcessModel

            pm = ProcessModel.load(args.process)
            bodies, expected = process_bodies(pm, 32, args.windows)
            path, compare = "/v1/process/predict", lambda a, e: compare_process(a, e, pm)
        wait_ready(url, proc)
        result = run_load(
            url + path,
            bodies,
            clients=args.clients,
            seconds=args.seconds,
            max_requests=args.max_requests,
            expected=expected,
            compare=compare,
        )
        what = f"knn rationale ({args.index}, {args.pattern})" if args.index else f"process ({Path(args.process).name})"
        print(f"{what}, {args.clients} clients: {result.summary()}")
        for line in result.mismatches[:5]:
            print(f"  differs: {line}")
        return 1 if result.server_errors or result.mismatches or result.transport_errors else 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
