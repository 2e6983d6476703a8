import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_train.py")


def train(tmp_path, name, processes):
    out = tmp_path / name
    if processes == 1:
        cmd = [sys.executable, str(SCRIPT), str(out)]
    else:
        launch = [
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            str(processes),
        ]  # torchrun; gloo on CPU
        cmd = [sys.executable, *launch, "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        cmd += [str(SCRIPT), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "report.json").read_text()), out


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_with_the_same_global_batch(tmp_path):
    from safetensors.torch import load_file

    one, a = train(tmp_path, "one", 1)
    two, b = train(tmp_path, "two", 2)
    assert two["processes"] == 2 and one["processes"] == 1
    for x, y in zip(one["history"], two["history"], strict=True):
        assert x["step"] == y["step"] and x["dev_loss"] == pytest.approx(y["dev_loss"], rel=1e-4)
    wa, wb = load_file(str(a / "adapter.safetensors")), load_file(str(b / "adapter.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)
