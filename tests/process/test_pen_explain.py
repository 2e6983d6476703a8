"""`heedful process explain` for the whole-batch pooled IndPenSim models (pen_quality, pen_endtime): the attention
of every test batch over its own hours, and --faithfulness, on tiny runs."""

import json

import numpy as np
import pytest

from heedful.cli import main
from heedful.process.explain import pooled_summary
from heedful.process.tasks import get_task

FAST = ["--max-samples", "8", "--ig-steps", "4", "--random-repeats", "1"]


def _train(task, model, pen_params, out, *extra):
    params = dict(pen_params(task))
    args = ["--batches", str(params.pop("batches")), "--cache", params.pop("cache")]
    for k, v in [*params.items(), *extra]:
        args += ["--set", f"{k}={v}"]
    argv = ["process", "train", "--task", task, "--model", model, *args, "--epochs", "1", "--hidden-size", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


@pytest.mark.parametrize(
    ("task", "extra", "label"),
    [("pen_quality", (), " g/L "), ("pen_quality", (("target", "value"),), " g/L "), ("pen_endtime", (), " h -> ")],
)
def test_explain_draws_every_test_batch_and_measures_faithfulness(task, extra, label, pen_params, tmp_path, capsys):
    run = _train(task, "bigru_attn", pen_params, tmp_path, *extra)
    capsys.readouterr()
    assert main(["process", "explain", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"picture: {run / 'explain_batches.png'}" in out and "test batches" in out and "attention peaks" in out
    assert (run / "explain_batches.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["process", "explain", str(run), "--faithfulness", *FAST]) == 0
    result = json.loads((run / "faithfulness.json").read_text())
    assert result["task"] == task and np.isfinite(result["auc"]["attention"]["deletion"])


def test_rows_name_truth_and_prediction(pen_params, tmp_path):
    from heedful.process.runner import load_with_data
    from heedful.process.train import predict

    run = _train("pen_quality", "gru_attn", pen_params, tmp_path)
    data, model, _ = load_with_data(run)
    pred, _ = predict(model, data.test.x, lengths=data.test.lengths)
    key, labels = get_task(data.name).explain_rows(data, pred)
    assert np.array_equal(key, data.test.value) and len(labels) == len(data.test)
    assert labels[0].startswith(f"{data.test.value[0]:.1f} g/L C -> ")  # these 30-hour batches all fail


def test_model_without_attention_is_one_line(pen_params, tmp_path, capsys):
    run = _train("pen_endtime", "gru", pen_params, tmp_path)
    capsys.readouterr()
    assert main(["process", "explain", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no attention" in err


def test_pooled_summary_of_uniform_and_peaked_attention():
    lengths = np.array([10, 5])
    uniform = np.zeros((2, 10))
    uniform[0], uniform[1, :5] = 0.1, 0.2
    s = pooled_summary(uniform, lengths, step_hours=1.0)
    assert s["effective_steps"] == pytest.approx(7.5)  # (10 + 5) / 2: each batch's own length
    assert s["mean_position"] == pytest.approx(0.5) and s["attention_on_last_10pct"] == pytest.approx(0.15)
    peaked = np.zeros((2, 10))
    peaked[0, 9], peaked[1, 4] = 1.0, 1.0  # all on each batch's last valid step
    s = pooled_summary(peaked, lengths, step_hours=0.5)
    assert s["effective_steps"] == 1 and s["mean_position"] == 1 and s["attention_on_last_10pct"] == 1
    assert s["peak_hour_median"] == pytest.approx((5.0 + 2.5) / 2)


def test_quality_through_the_penicillin_trajectory(pen_params, tmp_path, capsys):
    """target=trajectory: a per-step soft sensor whose estimate at each batch's last valid step is thresholded."""
    from heedful.process.tasks import build_task, evaluate
    from heedful.process.tasks.pen_classify import final_estimate

    data = build_task("pen_quality", **pen_params("pen_quality"), target="trajectory")
    assert data.kind == "sequence_regression" and data.target_names == ["penicillin"]
    test = data.test
    assert test.mask.sum() == test.lengths.sum() and test.y.shape[:2] == test.x.shape[:2]
    last = final_estimate(test.y, data)  # the true trajectory's last hourly step: within minutes of the end
    assert np.abs(last - test.value).max() < 0.5
    padded = test.y.copy()
    padded[~test.mask] = 99.0  # what lies beyond a batch's end never reaches its estimate
    assert evaluate(data, padded)["accuracy"] == 1.0
    pred, _ = get_task(data.name).fit_classical("ridge", data)  # the per-step soft-sensor ridge
    assert pred.shape == test.y.shape and 0 <= evaluate(data, pred)["accuracy"] <= 1
    run = _train("pen_quality", "bigru", pen_params, tmp_path, ("target", "trajectory"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"accuracy", "final_penicillin_mae"} <= set(metrics["test"])


def test_compare_defaults_follow_the_quality_target():
    task = get_task("pen_quality")
    assert "bigru_attn" in task.models_for({"target": "value"})
    assert task.models_for({"target": "trajectory"}) == ("gru", "bigru", "ridge", "pls")  # per-step outputs only
