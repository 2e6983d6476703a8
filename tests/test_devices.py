"""--device parsing and batch moving; the CUDA cases run only where a GPU is visible."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from heedful.devices import accelerator_kwargs, model_device, resolve_device, to_device
from heedful.errors import InputError

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line():
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(InputError, match="CUDA is not available") as err:
            resolve_device(spec)
        assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="CUDA is not available"):
        accelerator_kwargs("cuda")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_without_mps():
    with pytest.raises(InputError, match="MPS"):
        resolve_device("mps")


@given(st.text(max_size=12))
def test_anything_else_is_refused_or_a_device(spec):
    try:
        device = resolve_device(spec)
    except InputError as err:
        assert "\n" not in str(err) and "--device" in str(err)
    else:
        assert device.type in ("cpu", "cuda", "mps")
        assert spec.strip().lower().split(":")[0] in ("auto", "cpu", "cuda", "mps")


@pytest.mark.parametrize("spec", ["gpu", "cpu:0", "mps:1", "cuda:", "cuda:-1", "cuda:1234", "auto:0", ""])
def test_malformed(spec):
    with pytest.raises(InputError, match="--device"):
        resolve_device(spec)


class Pair(NamedTuple):
    x: torch.Tensor
    n: int


def test_to_device_walks_containers():
    batch = {"a": torch.ones(2), "b": [torch.zeros(1), (torch.ones(1), "keep")], "c": Pair(torch.ones(3), 4)}
    moved = to_device(batch, "cpu")
    assert moved["b"][1][1] == "keep" and isinstance(moved["b"][1], tuple)
    assert isinstance(moved["c"], Pair) and moved["c"].n == 4
    assert torch.equal(moved["c"].x, torch.ones(3))


def test_accelerator_kwargs_cpu():
    assert accelerator_kwargs("cpu") == {"cpu": True}


def test_model_device():
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.Identity()) == torch.device("cpu")


@cuda
def test_to_device_cuda_roundtrip():
    moved = to_device({"x": torch.arange(4)}, resolve_device("cuda"))
    assert moved["x"].is_cuda and moved["x"].sum().item() == 6


TINY_TEP = ["process", "train", "--task", "tep_faults", "--faults", "0,1", "--window", "10", "--stride", "20"]
TINY_TEP += ["--test-stride", "20", "--model", "gru", "--hidden-size", "4", "--epochs", "1"]


def _cli(capsys, args):
    from heedful.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", [TINY_TEP, ["rationale", "train", "--epochs", "1", "--max-train", "2"]])
def test_cli_refuses_cuda_without_cuda_in_one_line(tmp_path, capsys, command):
    code, err = _cli(capsys, [*command, "--device", "cuda", "--out", tmp_path])
    assert code == 2 and err.count("\n") == 1 and "CUDA is not available" in err
    assert not any(tmp_path.iterdir())  # refused before a run folder was written


def test_cli_refuses_a_malformed_device(tmp_path, capsys):
    code, err = _cli(capsys, [*TINY_TEP, "--device", "gpu0", "--out", tmp_path])
    assert code == 2 and "--device must be one of" in err and err.count("\n") == 1


def _train_and_predict(tmp_path, capsys, device):
    from heedful.process.runner import load_trained
    from heedful.process.train import predict

    code, err = _cli(capsys, [*TINY_TEP, "--device", device, "--out", tmp_path])
    assert code == 0, err
    (run,) = tmp_path.iterdir()
    spec, model, config = load_trained(run)
    assert config["train"]["device"] == device
    x = np.random.default_rng(0).normal(size=(3, 10, spec.n_features)).astype(np.float32)
    return model, x, predict(model, x)[0]


def test_cpu_training_and_prediction(tmp_path, capsys):
    _, _, pred = _train_and_predict(tmp_path, capsys, "cpu")
    assert pred.shape == (3,) and set(pred.tolist()) <= {0, 1}


@cuda
def test_cuda_training_and_prediction_equal_cpu_prediction(tmp_path, capsys):
    from heedful.process.train import predict

    model, x, on_cpu = _train_and_predict(tmp_path, capsys, "cuda")
    pred = predict(model.to("cuda"), x)[0]  # inputs follow the model to the GPU
    assert np.array_equal(pred, on_cpu)
