"""--device parsing and batch moving; the CUDA cases run only where a GPU is visible."""

from __future__ import annotations

from typing import NamedTuple

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
