"""Experiment tracking: ``--log-with`` writes local TensorBoard event files / an MLflow file store holding the run's
history, its test metrics, its config as parameters and its files; the run is named after its folder and filed
under its task. Read back with each tracker's own reader. An unknown tracker is one line."""

import json

import pytest

from heedful.cli import main

TEP = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--stride", "4", "--test-stride", "4"]
TRAIN = ["process", "train", "--model", "bigru_attn", *TEP, "--epochs", "2", "--hidden-size", "4"]


def _run(out):
    """The run folder and its per-epoch history (history.json)."""
    (run,) = out.iterdir()
    return run, json.loads((run / "history.json").read_text())


@pytest.fixture
def mlflow_store(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)

    def client(run):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=(run / "tracking" / "mlruns").as_uri())

    return client


def _only_run(client, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    (run,) = client.search_runs([exp.experiment_id])
    return run


def test_tensorboard_event_files_hold_the_history_and_the_test_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main([*TRAIN, "--log-with", "tensorboard", "--out", str(tmp_path)]) == 0
    run, history = _run(tmp_path)
    (logdir,) = (run / "tracking").iterdir()
    assert logdir.name == run.name  # the TensorBoard run is named after the run folder
    events = EventAccumulator(str(logdir))
    events.Reload()
    losses = [(e.step, e.value) for e in events.Scalars("loss")]
    assert [s for s, _ in losses] == [r["epoch"] for r in history]
    assert [v for _, v in losses] == pytest.approx([r["loss"] for r in history], rel=1e-6)
    assert "val_accuracy" in events.Tags()["scalars"]
    test = json.loads((run / "metrics.json").read_text())["test"]
    (accuracy,) = events.Scalars("test/overall_accuracy")
    assert accuracy.step == history[-1]["epoch"] and accuracy.value == pytest.approx(test["overall_accuracy"])
    (hparams,) = logdir.glob("*/hparams.yml")
    assert "task_params.window: 10" in hparams.read_text() and "model_params.hidden_size: 4" in hparams.read_text()


def test_mlflow_run_holds_history_test_metrics_parameters_and_files(tmp_path, mlflow_store):
    assert main([*TRAIN, "--log-with", "mlflow", "--report", "--out", str(tmp_path)]) == 0
    run, history = _run(tmp_path)
    client = mlflow_store(run)
    tracked = _only_run(client, "tep_faults")  # the experiment is the task
    assert tracked.info.run_name == run.name
    loss = client.get_metric_history(tracked.info.run_id, "loss")
    assert [m.step for m in loss] == [r["epoch"] for r in history]
    assert [m.value for m in loss] == pytest.approx([r["loss"] for r in history], rel=1e-6)
    metrics = json.loads((run / "metrics.json").read_text())
    logged = tracked.data.metrics
    assert logged["test/overall_accuracy"] == pytest.approx(metrics["test"]["overall_accuracy"])
    assert logged["test/per_fault_accuracy/1"] == pytest.approx(metrics["test"]["per_fault_accuracy"]["1"])
    assert logged["parameters"] == metrics["parameters"]
    params = tracked.data.params
    assert params["task"] == "tep_faults" and params["model"] == "bigru_attn" and params["task_params.window"] == "10"
    assert params["train.epochs"] == "2" and params["model_params.hidden_size"] == "4"
    files = {f.path for f in client.list_artifacts(tracked.info.run_id)}
    assert {"config.json", "metrics.json", "history.json", "report.html"} <= files


def test_compare_tracks_one_run_per_model_and_one_for_the_table(tmp_path, mlflow_store):
    argv = ["process", "compare", "--models", "gru,logistic", *TEP, "--epochs", "1", "--hidden-size", "4"]
    assert main([*argv, "--log-with", "mlflow", "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    client = mlflow_store(run)
    exp = client.get_experiment_by_name("tep_faults")
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(runs) == {run.name, f"{run.name}/gru", f"{run.name}/logistic"}
    for name in ("gru", "logistic"):
        saved = json.loads((run / "models" / name / "metrics.json").read_text())["test"]["overall_accuracy"]
        assert runs[f"{run.name}/{name}"].data.metrics["test/overall_accuracy"] == pytest.approx(saved)
    assert runs[f"{run.name}/gru"].data.params["model"] == "gru"
    assert runs[f"{run.name}/logistic"].data.params["model"] == "logistic"
    table = {f.path for f in client.list_artifacts(runs[run.name].info.run_id)}
    assert {"table.md", "config.json"} <= table


def test_unknown_tracker_is_one_line(tmp_path, capsys):
    assert main([*TRAIN, "--log-with", "wandb", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "log_with must be one of tensorboard, mlflow" in err[0]


def test_flattened_names_are_ones_mlflow_accepts():
    from hypothesis import given
    from hypothesis import strategies as st
    from mlflow.utils.validation import _validate_metric_name

    from heedful.tracking import metric_key, numbers

    assert numbers({"after": {"recall@1": 0.5, "n": 3}, "history": [1], "ok": True}) == {
        "after/recall_at_1": 0.5,
        "after/n": 3.0,
    }

    @given(st.text(min_size=1, max_size=30))
    def valid(key):
        _validate_metric_name(metric_key(key))

    valid()


def test_rationale_pretrain_logs_its_epochs_and_dev_recall(tmp_path, mlflow_store):
    common = ["--encoder", "hash:16", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "runs")]
    argv = ["rationale", "pretrain", "--epochs", "3", "--hidden", "16", "--log-with", "mlflow", *common]
    assert main(argv) == 0
    (run,) = (tmp_path / "runs").iterdir()
    client = mlflow_store(run)
    tracked = _only_run(client, "rationale-pretrain")
    assert tracked.info.run_name == run.name
    metrics = json.loads((run / "metrics.json").read_text())
    loss = client.get_metric_history(tracked.info.run_id, "loss")
    assert [m.step for m in loss] == [1, 2, 3] and [m.value for m in loss] == pytest.approx(metrics["loss"])
    assert tracked.data.metrics["after/recall_at_1"] == pytest.approx(metrics["after"]["recall@1"])
    assert tracked.data.params["contrastive.epochs"] == "3" and tracked.data.params["encoder"] == "hash:16"
    assert {"config.json", "metrics.json"} <= {f.path for f in client.list_artifacts(tracked.info.run_id)}
