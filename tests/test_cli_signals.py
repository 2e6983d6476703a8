"""The CLI as a pipeline stage and as a job: a reader that leaves early (``| head``) and SIGTERM end quietly, the
way Ctrl-C does, with no traceback and nothing half-done left in the run folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = os.environ | {"PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    """Before: a BrokenPipeError traceback (``heedful rationale data | head -0``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "heedful", "rationale", "data", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


@pytest.mark.slow  # a fresh interpreter imports torch and trains
def test_sigterm_during_training_ends_like_ctrl_c(tmp_path):
    """Before: SIGTERM killed the process where it stood: the lock stayed, temporary files could stay."""
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):
        phase = np.where(np.arange(16) < 8, "heat", "cool")
        frame = pd.DataFrame({"time": np.arange(16.0), "temp": np.random.default_rng(i).normal(20, 1, 16)})
        frame.assign(phase=phase).to_csv(data / f"b{i}.csv", index=False)
    argv = [sys.executable, "-m", "heedful", "process", "train", "--task", "table", "--path", str(data)]
    argv += ["--time-column", "time", "--target-column", "phase", "--model", "gru", "--epochs", "100000"]
    proc = subprocess.Popen([*argv, "--out", str(tmp_path / "runs")], stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("runs/*/checkpoint/state.json")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read().decode()
    assert proc.wait() == 143, err[-2000:]
    assert err.rstrip().endswith("heedful: terminated") and "Traceback" not in err
    (run,) = (tmp_path / "runs").iterdir()
    assert not (run / "heedful.lock").exists() and not list(run.rglob("*.tmp"))
