"""Shared timing helper for the ratio benchmarks: interleaved runs, medians, one process."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable

import torch


def compare(ours: Callable[[], object], baseline: Callable[[], object], repeats: int = 20, warmup: int = 3):
    """Median seconds of each, measured alternately so drift in machine load hits both alike."""
    for _ in range(warmup):
        ours()
        baseline()
    t_ours, t_base = [], []
    for _ in range(repeats):
        for fn, acc in ((ours, t_ours), (baseline, t_base)):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    return statistics.median(t_ours), statistics.median(t_base)


def header(title: str) -> None:
    print(f"## {title}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {platform.processor() or platform.machine()}"
    )


def row(label: str, ours: float, base: float, baseline_name: str, better: str = "lower") -> None:
    ratio = ours / base
    print(f"| {label} | {ours * 1e3:.2f} ms | {base * 1e3:.2f} ms ({baseline_name}) | {ratio:.3f}x |")


def demo_rationale_setup(lm_spec: str | None, n: int, reserve: int = 0):
    """(model, tokenizer, examples) for the rationale benchmarks: the LM (packaged Gemma unless ``lm_spec``) in mode
    ``both``, and the first ``n`` demo dialogues with 2 retrieved examples each (from a throw-away index)."""
    import os
    import tempfile

    from heedful.rationale import load_demo
    from heedful.rationale.lm.loader import load_lm
    from heedful.rationale.lm.model import RationaleLM, RationaleLMConfig
    from heedful.rationale.lm.pipeline import prepare
    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.rationale.retrieval.store import build_index

    lm, tok = load_lm(lm_spec)
    model = RationaleLM(lm, RationaleLMConfig(lm=lm_spec, mode="both", k=2))
    with tempfile.TemporaryDirectory() as tmp:
        feats = KeyConfig(cache_dir=os.path.join(tmp, "cache"))
        index = build_index(load_demo(), feats, os.path.join(tmp, "index"))
        examples = prepare(model, tok, load_demo()[:n], index, feats, reserve=reserve, progress=False)
    return model, tok, examples
