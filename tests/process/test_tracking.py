"""Experiment tracking: ``--log-with`` writes local TensorBoard event files / an MLflow file store whose values are
the run's own history; an unknown tracker is one line."""

import json

import pytest

from heedful.cli import main

TEP = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--stride", "4", "--test-stride", "4"]
TRAIN = ["process", "train", "--model", "bigru_attn", *TEP, "--epochs", "2", "--hidden-size", "4"]


def _run(out):
    """The run folder and its per-epoch history (history.json)."""
    (run,) = out.iterdir()
    return run, json.loads((run / "history.json").read_text())


def test_tensorboard_event_files_hold_the_training_history(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main([*TRAIN, "--log-with", "tensorboard", "--out", str(tmp_path)]) == 0
    run, history = _run(tmp_path)
    (logdir,) = (run / "tracking").iterdir()
    events = EventAccumulator(str(logdir))
    events.Reload()
    losses = [(e.step, e.value) for e in events.Scalars("loss")]
    assert [s for s, _ in losses] == [r["epoch"] for r in history]
    assert [v for _, v in losses] == pytest.approx([r["loss"] for r in history], rel=1e-6)
    assert "val_accuracy" in events.Tags()["scalars"]


def test_mlflow_file_store_holds_the_training_history(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    assert main([*TRAIN, "--log-with", "mlflow", "--out", str(tmp_path)]) == 0
    run, history = _run(tmp_path)
    loss_files = list((run / "tracking" / "mlruns").rglob("metrics/loss"))
    assert len(loss_files) == 1, "one MLflow run with a loss series, in the run folder"
    rows = [line.split() for line in loss_files[0].read_text().splitlines()]  # timestamp value step
    assert [int(r[2]) for r in rows] == [r["epoch"] for r in history]
    assert [float(r[1]) for r in rows] == pytest.approx([r["loss"] for r in history], rel=1e-6)


def test_unknown_tracker_is_one_line(tmp_path, capsys):
    assert main([*TRAIN, "--log-with", "wandb", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "log_with must be one of tensorboard, mlflow" in err[0]
