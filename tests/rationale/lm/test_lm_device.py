"""``rationale predict --method lm --device``: generation where the LM is (inputs follow it); ``--device cpu`` gives
the default answer here; CUDA asked of a machine without it, or int8 off the CPU, is one line. The CUDA cases run
only where a GPU is visible."""

import json

import pytest
import torch

from heedful.cli import main

from ..conftest import tiny_lm, tiny_tokenizer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-lm")
    tiny_lm().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def predicted(tmp_path, lm_dir, *flags) -> list[dict]:
    """Zero-shot predictions of the tiny LM on two dev samples (greedy)."""
    out = tmp_path / f"p{len(list(tmp_path.iterdir()))}"
    argv = ["rationale", "predict", "--method", "lm", "--lm", str(lm_dir), "--limit", "2", "--max-new-tokens", "6"]
    assert main([*argv, "--attention", *flags, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return json.loads((run / "predictions.json").read_text())


def test_predict_on_the_cpu_equals_the_default(tmp_path, lm_dir):
    default = predicted(tmp_path, lm_dir)
    assert len(default) == 2 and all(p["raw"] is not None for p in default)
    assert predicted(tmp_path, lm_dir, "--device", "cpu") == default


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_predict_on_cuda_without_cuda_is_one_line_and_leaves_no_run(tmp_path, lm_dir, capsys):
    argv = ["rationale", "predict", "--method", "lm", "--lm", str(lm_dir), "--limit", "1", "--device", "cuda"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA is not available" in err and "\n" not in err and not list(tmp_path.iterdir())


@cuda
def test_predict_on_cuda_equals_the_cpu(tmp_path, lm_dir):
    on_cpu = predicted(tmp_path, lm_dir, "--device", "cpu")
    assert [p["text"] for p in predicted(tmp_path, lm_dir, "--device", "cuda")] == [p["text"] for p in on_cpu]


@cuda
def test_int8_off_the_cpu_is_one_line(tmp_path, lm_dir, capsys):
    argv = ["rationale", "predict", "--method", "lm", "--lm", str(lm_dir), "--limit", "1", "--int8"]
    capsys.readouterr()
    assert main([*argv, "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "--device cpu" in capsys.readouterr().err
