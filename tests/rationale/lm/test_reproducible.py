"""A seeded LM training run is reproducible on CPU, and a run interrupted anywhere (an exception mid-epoch, or a real
kill -9) then resumed ends with the very weights of an uninterrupted one, with dropout on."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from heedful.cli import main
from heedful.rationale.data.config import DataConfig
from heedful.rationale.graph.encoder import GraphConfig
from heedful.rationale.lm.inject import InjectConfig
from heedful.rationale.lm.model import RationaleLMConfig
from heedful.rationale.lm.pipeline import resume_pipeline, train_pipeline
from heedful.rationale.lm.train import LMTrainConfig
from heedful.rationale.retrieval.keys import KeyConfig

from ..conftest import tiny_lm, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[3]


def model_cfg():
    graph = GraphConfig(text_dim=16, hidden=16, heads=2, layers=1, dropout=0.2)  # dropout everywhere it can be
    cfg = RationaleLMConfig(
        lm="tiny", mode="both", graph=graph, encoder="hash:16", k=1, max_tokens=1500, inject=InjectConfig(n_latents=2)
    )
    cfg.lora.dropout = 0.2
    return cfg


def train(folder: Path, seed: int = 3, draws: int = 0) -> dict:
    """``draws``: numbers drawn from the global generator before training (what other code did before): a seeded
    run must not depend on it."""
    cfg = LMTrainConfig(epochs=2, batch_size=2, grad_accum=1, lr=3e-3, max_dev=4, save_every=1, seed=seed)
    feats = KeyConfig(cache_dir=str(folder.parent / "cache"))
    lm = tiny_lm()
    torch.rand(draws)
    return train_pipeline(
        DataConfig(), model_cfg(), cfg, folder, feats, max_train=8, progress=False, lm=lm, tokenizer=tiny_tokenizer()
    )


def adapter(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "adapter.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = adapter(a), adapter(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])][:3]


def test_two_seeded_runs_give_identical_adapters_and_dev_losses(tmp_path):
    first = train(tmp_path / "a")
    second = train(tmp_path / "b", draws=7)
    assert first["history"] == second["history"]
    assert_same_weights(tmp_path / "a", tmp_path / "b")
    other = train(tmp_path / "c", seed=4)  # the seed matters: another seed, other initial weights and masks
    assert other["history"] != first["history"]


def test_run_interrupted_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    whole = train(tmp_path / "whole")

    import heedful.rationale.lm.train as train_mod

    calls, real = {"n": 0}, train_mod.batch_loss

    def killed(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 9:  # epoch 1: 4 training + 2 dev batches; then 2 batches (two steps) into epoch 2
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(train_mod, "batch_loss", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "killed")
    monkeypatch.setattr(train_mod, "batch_loss", real)
    state = json.loads((tmp_path / "killed" / "state.json").read_text())
    assert (state["epoch"], state["batch"], state["step"]) == (1, 2, 6)
    lm = tiny_lm()
    torch.rand(7)  # a fresh process's generator: the resumed run restores the saved one
    resumed = resume_pipeline(tmp_path / "killed", progress=False, lm=lm, tokenizer=tiny_tokenizer())
    assert resumed["history"] == whole["history"]
    assert_same_weights(tmp_path / "whole", tmp_path / "killed")


def _train_args(out: Path, base: Path) -> list[str]:
    args = ["rationale", "train", "--lm", str(base), "--mode", "both", "--max-train", "8", "--epochs", "2"]
    args += ["--batch-size", "2", "--grad-accum", "1", "--max-dev", "4", "--max-tokens", "1500"]
    args += ["--encoder", "hash:16", "--cache-dir", str(out.parent / "cache")]
    return [*args, "--save-every", "1", "--seed", "5", "--threads", "1", "--out", str(out)]


@pytest.mark.slow
def test_kill_9_then_resume_equals_an_uninterrupted_cli_run(tmp_path):
    base = tmp_path / "base"
    tiny_lm().save_pretrained(base)
    tiny_tokenizer().save_pretrained(base)
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "heedful", *_train_args(tmp_path / "killed", base)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600  # a loaded machine
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "killed").glob("*/state.json"))
        if found and json.loads(found[0].read_text()).get("step", 0) >= 5:  # in epoch 2, one step in
            state = found[0]
            break
        time.sleep(0.05)
    assert state is not None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert main(_train_args(tmp_path / "whole", base)) == 0  # the uninterrupted run, in this process
    assert main(["rationale", "train", "--resume", str(state.parent)]) == 0
    (whole,) = (tmp_path / "whole").iterdir()
    assert_same_weights(whole, state.parent)
    metrics = [json.loads((f / "metrics.json").read_text())["history"] for f in (whole, state.parent)]
    assert metrics[0] == metrics[1]
