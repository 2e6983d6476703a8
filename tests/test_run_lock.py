"""One writer per run folder: a second one (another process, a concurrent --resume) is refused naming the holder's
pid; a lock left by a dead process is taken over with a warning; the lock goes when the writer ends, by an exception
too."""

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from heedful.cli import main
from heedful.runs import LOCK, RunLocked, hold_run

SRC = Path(__file__).resolve().parents[1] / "src"
HOLD = """import sys, time
from heedful.runs import hold_run
with hold_run(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A real second process holding ``tmp_path / 'run'``; yields (folder, process)."""
    folder = tmp_path / "run"
    folder.mkdir()
    env = os.environ | {"PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    yield folder, proc
    proc.kill()
    proc.wait()


def test_a_folder_held_by_another_process_is_refused_naming_its_pid(holder):
    folder, proc = holder
    with pytest.raises(RunLocked, match=rf"in use by process {proc.pid} "), hold_run(folder):
        pass
    assert (folder / LOCK).read_text().strip() == str(proc.pid)  # the refusal left the holder's lock alone


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_warning(holder, caplog):
    folder, proc = holder
    proc.send_signal(signal.SIGKILL)  # no clean-up runs: the file and its pid stay
    proc.wait()
    assert (folder / LOCK).read_text().strip() == str(proc.pid)
    with caplog.at_level(logging.WARNING, logger="heedful.runs"), hold_run(folder):
        assert (folder / LOCK).read_text().strip() == str(os.getpid())
    assert f"took over the lock of process {proc.pid}, which is no longer running" in caplog.text
    assert not (folder / LOCK).exists()


def test_a_stale_pid_file_is_taken_over_and_a_fresh_hold_says_nothing(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(f"{dead.pid}\n")
    with caplog.at_level(logging.WARNING, logger="heedful.runs"):
        with hold_run(tmp_path):
            pass
        assert str(dead.pid) in caplog.text
        caplog.clear()
        with hold_run(tmp_path):
            pass
    assert caplog.text == ""


def test_the_lock_is_released_on_an_exception_and_one_process_cannot_hold_it_twice(tmp_path):
    with pytest.raises(KeyError), hold_run(tmp_path):
        with pytest.raises(RunLocked, match=str(os.getpid())), hold_run(tmp_path):
            pass
        raise KeyError("boom")
    assert not (tmp_path / LOCK).exists()
    with hold_run(tmp_path):  # free again
        assert (tmp_path / LOCK).exists()


def _batches(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        phase = np.where(np.arange(12) < 6, "heat", "cool")
        frame = pd.DataFrame({"time": np.arange(12.0), "temp": rng.normal(20, 1, 12) + (phase == "heat") * 5})
        frame.assign(phase=phase).to_csv(folder / f"b{i}.csv", index=False)
    return folder


def test_process_train_resume_of_a_held_run_is_one_line_with_the_pid(tmp_path, capsys, caplog):
    data = _batches(tmp_path / "data")
    task = ["--task", "table", "--path", str(data), "--time-column", "time", "--target-column", "phase"]
    argv = ["process", "train", *task, "--model", "gru", "--epochs", "1", "--hidden-size", "4", "--out"]
    assert main([*argv, str(tmp_path / "runs")]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    out = capsys.readouterr().out
    assert f"run folder: {run}\n" in out and out.index("run folder") < out.index("gru:")  # said when the run starts
    env = os.environ | {"PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert main(["process", "train", "--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"heedful: error: {run}: in use by process {proc.pid} ({LOCK}); wait for it to end"
    finally:
        proc.kill()
        proc.wait()
    assert main(["process", "train", "--resume", str(run)]) == 0  # the stale lock is taken over
    assert f"lock of process {proc.pid}, which is no longer running" in caplog.text and not (run / LOCK).exists()


def test_the_other_ranks_of_one_distributed_launch_share_rank_0s_lock(tmp_path, monkeypatch):
    with hold_run(tmp_path):
        monkeypatch.setenv("RANK", "1")  # torchrun's other process of the same run
        with hold_run(tmp_path):
            assert (tmp_path / LOCK).read_text().strip() == str(os.getpid())
        assert (tmp_path / LOCK).exists()  # rank 1 leaving does not release rank 0's lock
