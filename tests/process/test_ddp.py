"""``heedful process train`` under ``accelerate launch``: one run folder, the one-process result."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from heedful.cli import main
from heedful.process.train import _share, loss_fn

SCRIPT = Path(__file__).with_name("ddp_train.py")
LAUNCH = ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
LAUNCH += ["--mixed_precision", "no", "--dynamo_backend", "no"]  # torchrun; gloo on CPU


def one_process(out: Path) -> None:
    spec = importlib.util.spec_from_file_location("ddp_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.run(out)


def outcome(root: Path) -> tuple[dict, dict]:
    (run,) = root.iterdir()  # exactly one run folder
    from safetensors.torch import load_file

    return json.loads((run / "metrics.json").read_text()), load_file(str(run / "checkpoint" / "best.safetensors"))


@pytest.mark.slow
def test_two_gloo_processes_write_one_run_and_train_like_one(tmp_path):
    one_process(tmp_path / "one")
    done = subprocess.run([sys.executable, *LAUNCH, str(SCRIPT), str(tmp_path / "two")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder:") == 1 and done.stdout.count("test overall accuracy") == 1
    for name in ("a", "b"):  # straight; interrupted after one epoch and resumed
        (m1, w1), (m2, w2) = outcome(tmp_path / "one" / name), outcome(tmp_path / "two" / name)
        assert abs(m1["test"]["overall_accuracy"] - m2["test"]["overall_accuracy"]) <= 0.01
        assert m1["best_epoch"] == m2["best_epoch"] and w1.keys() == w2.keys()
        assert all(torch.allclose(w1[k], w2[k], atol=1e-5) for k in w1)
    _, straight = outcome(tmp_path / "two" / "a")
    _, resumed = outcome(tmp_path / "two" / "b")
    assert all(torch.allclose(straight[k], resumed[k], atol=1e-6) for k in straight)


@pytest.mark.parametrize("kind", ["classification", "sequence_classification", "regression"])
def test_the_weighted_shares_of_a_batch_sum_to_its_loss_and_gradient(kind):
    g = torch.Generator().manual_seed(0)
    n, t = 7, 5  # 7 windows over 3 processes: shares of 3, 2 and 2
    shapes = {"classification": (n, 3), "sequence_classification": (n, t, 3), "regression": (n, t, 3)}
    pred = torch.randn(shapes[kind], generator=g, requires_grad=True)
    y = torch.randn(pred.shape, generator=g) if kind == "regression" else torch.randint(0, 3, pred.shape[:-1])
    mask = torch.rand(y.shape, generator=g) > 0.4
    if kind != "classification":
        mask[:3] = False  # the first process's windows hold no valid target
    batch = [pred, y, torch.full((n,), t), mask, torch.zeros(n, dtype=torch.bool)]  # fit's order, pred as x
    whole = loss_fn(kind, pred, y, mask, batch[4])
    (expected,) = torch.autograd.grad(whole, pred)
    total, grad = 0.0, torch.zeros_like(pred)
    for rank in range(3):
        part, weight = _share(batch, kind, 3, rank)
        if weight:
            share = loss_fn(kind, part[0], part[1], part[3], part[4]) * weight
            total += float(share.detach())
            grad += torch.autograd.grad(share, pred)[0]
    assert total == pytest.approx(float(whole), rel=1e-6)
    torch.testing.assert_close(grad, expected)


@pytest.mark.parametrize(
    "argv",
    [
        ["process", "compare", "--task", "tep_faults"],
        ["process", "data", "--task", "tep_faults"],
        ["process", "explain", "RUN"],
        ["process", "predict", "RUN", "--csv", "x.csv"],
    ],
)
def test_single_process_commands_refuse_a_launch_in_one_line(argv, monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{' '.join(argv[:2])} runs in one process" in err and "accelerate launch" in err
