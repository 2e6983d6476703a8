"""IndPenSim tasks on tiny generated batch sets: splits by batch, scaling on train, masks, metrics, CLI."""

import json

import numpy as np
import pytest
import torch

from heedful.cli import main
from heedful.errors import InputError
from heedful.process.baselines import persistence
from heedful.process.sources import indpensim as ip
from heedful.process.tasks import build_task, get_task, task_config
from heedful.process.tasks.pen_regress import interpolate_gaps
from heedful.process.train import loss_fn
from heedful.sequence import SequenceModel

PEN_TASKS = ["pen_quality", "pen_phase", "pen_faults", "pen_endtime", "pen_forecast", "pen_softsensor", "pen_repair"]


@pytest.fixture(scope="module")
def built(pen_params):
    return {task: build_task(task, **pen_params(task)) for task in PEN_TASKS}


@pytest.mark.parametrize("task", PEN_TASKS)
def test_splits_are_by_batch_scaled_on_train_and_masked(built, task):
    data = built[task]
    runs = [set(np.unique(getattr(data, s).run).tolist()) for s in ("train", "val", "test")]
    assert not (runs[0] & runs[1] or runs[0] & runs[2] or runs[1] & runs[2])
    tr = data.train
    valid = np.ones(tr.x.shape[:2], bool) if tr.lengths is None else np.arange(tr.x.shape[1]) < tr.lengths[:, None]
    raw = tr.x[valid][:, : len(data.scaler.mean)]
    if task != "pen_repair":  # repair zeroes its hidden values
        np.testing.assert_allclose(
            raw.mean(0), 0, atol=0.5 if task in ("pen_faults", "pen_forecast") else 1e-3
        )  # windows overlap unevenly
    if tr.lengths is not None:
        assert (tr.x[~valid] == 0).all()
    if tr.mask is not None:
        assert tr.mask.shape == tr.y.shape
    assert "penicillin" not in data.feature_names


def test_quality_classes_follow_the_thresholds(built, pen_params):
    data = built["pen_quality"]
    assert data.params["thresholds_g_per_l"] == [15.0, 25.0] and data.class_names == ["A", "B", "C"]
    assert (data.train.y == 2).all()  # 30-hour batches hold almost no penicillin yet: all "failed"
    with pytest.raises(ValueError, match="two increasing"):
        task_config("pen_quality", thresholds="25,15")
    assert data.train.lengths is not None and data.train.x.shape[0] == len(data.train.lengths)


def test_endtime_marks_batches_that_never_reach_the_threshold(built, pen_params):
    data = built["pen_endtime"]
    hours = np.concatenate([getattr(data, s).y for s in ("train", "val", "test")]) * data.target_scaler.scale
    hours += data.target_scaler.mean
    censored = np.concatenate([getattr(data, s).censored for s in ("train", "val", "test")])
    assert censored.dtype == bool and (hours[censored] >= 30.0 - 1e-3).all()


def test_forecast_targets_continue_the_inputs(built):
    data = built["pen_forecast"]
    te = data.test
    same = te.run[:-1] == te.run[1:]
    idx = [data.feature_names.index(n) for n in data.target_names]
    # history 24, horizon = stride = 12: window i's future is the second half of window i+1's history
    np.testing.assert_allclose(te.y[:-1][same], te.x[1:][same][:, 12:, idx], atol=1e-5)
    np.testing.assert_array_equal(persistence(data, te.x)[:, 3], te.x[:, -1, idx])


def test_repair_hides_segments_and_interpolation_is_exact_on_lines(built):
    data = built["pen_repair"]
    c = len(data.target_names)
    x, hidden = data.train.x, data.train.mask
    assert (x[..., :c][hidden] == 0).all() and ((x[..., c:] > 0.5) == hidden).all() and hidden.any(1).any(1).all()
    line = np.broadcast_to(np.arange(24, dtype=np.float32)[None, :, None], (2, 24, 3)).copy()
    gaps = np.zeros_like(line, bool)
    gaps[:, 5:12, 1] = True
    np.testing.assert_allclose(interpolate_gaps(np.where(gaps, 0, line), gaps), line)


def test_padding_does_not_change_per_step_outputs_or_the_masked_loss():
    torch.manual_seed(0)
    model = SequenceModel.build(3, 1, head="many_to_many", cell="gru", bidirectional=True, hidden_size=4).eval()
    x = torch.randn(1, 7, 3)
    padded = torch.cat([x, torch.zeros(1, 5, 3)], 1)
    short = model(x).prediction
    long = model(padded, torch.tensor([7])).prediction
    torch.testing.assert_close(long[:, :7], short)
    y, mask = torch.randn(1, 12, 1), torch.zeros(1, 12, 1, dtype=torch.bool)
    mask[:, :7] = True
    a = loss_fn("sequence_regression", long, y, mask, None)
    b = loss_fn("sequence_regression", short, y[:, :7], mask[:, :7], None)
    torch.testing.assert_close(a, b)


def test_censored_targets_only_penalise_early_predictions():
    y, mask = torch.tensor([[1.0], [1.0]]), torch.ones(2, 1, dtype=torch.bool)
    late, early = torch.tensor([[3.0], [3.0]]), torch.tensor([[0.0], [0.0]])
    censored = torch.tensor([True, False])
    assert float(loss_fn("regression", late, y, mask, censored)) == pytest.approx(2.0)  # only the uncensored row
    assert float(loss_fn("regression", early, y, mask, censored)) == pytest.approx(1.0)


def _cli_args(params: dict) -> list[str]:
    args = ["--batches", str(params.pop("batches")), "--cache", params.pop("cache")]
    if "window" in params:
        args += ["--window", str(params.pop("window"))]
    for k, v in params.items():
        args += ["--set", f"{k}={v}"]
    return args


MODELS = {
    "pen_quality": "bigru_attn",
    "pen_phase": "bigru",
    "pen_faults": "gru_attn",
    "pen_endtime": "gru",
    "pen_forecast": "seq2seq_attn",
    "pen_softsensor": "gru",
    "pen_repair": "bilstm",
}


@pytest.mark.parametrize("task", PEN_TASKS)
def test_every_task_trains_and_evaluates_from_the_cli(task, pen_params, tmp_path, capsys):
    args = ["--task", task, *_cli_args(pen_params(task)), "--epochs", "1", "--hidden-size", "8", "--out", str(tmp_path)]
    assert main(["process", "train", "--model", MODELS[task], *args]) == 0
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == task
    test = metrics["test"]
    headlines = get_task(task).headlines
    assert test.get(headlines[0][1]) is not None  # the first headline always has a value
    for _, key, kind in headlines:  # every number the comparison table shows, in its range
        value = test.get(key)
        if value is None or value == {}:  # the tiny split lacks what it needs (no faulty test batch, no censored one)
            continue
        values = list(value.values()) if kind == "mean_pct" else [value]
        assert values and all(isinstance(v, float) and np.isfinite(v) for v in values), (key, value)
        if kind in ("pct", "mean_pct"):
            assert all(0.0 <= v <= 1.0 for v in values), (key, value)
        elif kind == "num":
            assert value >= 0.0, (key, value)
        elif key.endswith("r2"):
            assert value <= 1.0, (key, value)
        else:  # an RMSE shown with the R² format
            assert value >= 0.0, (key, value)
    out = capsys.readouterr().out
    assert "test:" in out
    shown = [k for k, v in test.items() if isinstance(v, float)]
    assert shown and all(f"{k} " in out for k in shown)  # the summary line names each scalar metric


def test_compare_explain_and_predict_on_forecasting(pen_params, tmp_path, capsys):
    args = ["--task", "pen_forecast", *_cli_args(pen_params("pen_forecast")), "--epochs", "1", "--hidden-size", "8"]
    assert (
        main(["process", "compare", "--models", "gru,seq2seq_attn,persistence,ridge", *args, "--out", str(tmp_path)])
        == 0
    )
    (run,) = tmp_path.iterdir()
    table = (run / "table.md").read_text()
    assert "| seq2seq_attn |" in table and "| persistence |" in table and "persistence R²" in table
    assert main(["process", "explain", str(run / "models" / "seq2seq_attn"), "--sample", "2"]) == 0
    assert (run / "models" / "seq2seq_attn" / "explain_sample2.png").read_bytes()[:4] == b"\x89PNG"
    batch = ip.simulate(ip.BatchSpec(seed=7, steps=40))
    from heedful.process.tasks.pen_regress import FORECAST_INPUTS

    csv = tmp_path / "batch.csv"
    cols = [ip.CHANNELS.index(n) for n in FORECAST_INPUTS]
    np.savetxt(csv, batch.values[:, cols], delimiter=",", header=",".join(FORECAST_INPUTS), comments="")
    capsys.readouterr()
    assert main(["process", "predict", str(run / "models" / "gru"), "--csv", str(csv)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert np.asarray(out["prediction"]).shape == (12, 5)


@pytest.fixture(scope="module")
def fault_run(pen_params, tmp_path_factory):
    out = tmp_path_factory.mktemp("faultrun")
    args = ["--task", "pen_faults", *_cli_args(pen_params("pen_faults")), "--epochs", "1", "--hidden-size", "8"]
    assert main(["process", "train", "--model", "gru_attn", *args, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


def _write(path, values, header=None):
    np.savetxt(path, values, delimiter=",", header=",".join(header) if header else "", comments="")
    return str(path)


def test_predict_bad_input_is_one_line_and_exit_2(fault_run, tmp_path, capsys):
    values = ip.simulate(ip.BatchSpec(seed=11, steps=30)).values[:, : len(ip.ONLINE)].astype(np.float64)
    assert main(["process", "predict", str(fault_run), "--csv", _write(tmp_path / "ok.csv", values)]) == 0
    capsys.readouterr()
    bad = values.copy()
    bad[[4, 9], ip.ONLINE.index("temperature")] = np.nan
    bad[12, ip.ONLINE.index("temperature")] = np.inf
    cases = [
        (_write(tmp_path / "nan.csv", bad), "channel 'temperature' at rows 4, 9, 12"),
        (_write(tmp_path / "narrow.csv", values[:, :17]), "17 variables per row, but the model was trained on 18"),
        (_write(tmp_path / "short.csv", values[:5]), "batch too short: 5 rows"),
        (_write(tmp_path / "empty.csv", np.zeros((0, 18))), "empty batch"),
    ]
    for path, message in cases:
        assert main(["process", "predict", str(fault_run), "--csv", path]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err
    assert main(["process", "predict", str(fault_run), "--csv", cases[0][0], "--impute", "ffill"]) == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["process", "train", "--task", "pen_nope"], "unknown task 'pen_nope'"),
        (["process", "compare", "--task", "pen_nope"], "unknown task 'pen_nope'"),
        (["process", "train", "--task", "pen_quality", "--set", "colour=red"], "unknown parameters ['colour']"),
        (["process", "train", "--task", "pen_quality", "--set", "every"], "expected KEY=VALUE"),
        (["process", "train", "--task", "pen_phase", "--model", "lstm_cnn"], "unknown model 'lstm_cnn'"),
        (["process", "train", "--task", "pen_quality", "--batches", "3"], "at least 5 batches"),
        (["process", "data", "--source", "indpensim", "--batches", "2", "--seed-stride", "5"], "seed_stride"),
        (["process", "data"], "give --task NAME or --source indpensim"),
    ],
)
def test_cli_bad_input_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("heedful: error:") and message in err and "\n" not in err


def test_models_refuse_tasks_they_cannot_serve(built):
    from heedful.process.models import build_model

    with pytest.raises(ValueError, match="needs per-step outputs"):
        build_model("bigru_attn", built["pen_phase"])
    with pytest.raises(ValueError, match="forecasting or trajectory task"):
        build_model("seq2seq_attn", built["pen_quality"])
    assert task_config("pen_quality").every == 5


def test_data_command_generates_and_reports(tmp_path, capsys):
    argv = ["process", "data", "--source", "indpensim", "--batches", "2", "--min-hours", "2", "--max-hours", "2"]
    assert main([*argv, "--cache", str(tmp_path)]) == 0
    assert "2 batches (2 simulated, 0 from the cache)" in capsys.readouterr().out
    assert main([*argv, "--cache", str(tmp_path)]) == 0
    assert "(0 simulated, 2 from the cache)" in capsys.readouterr().out


def test_data_command_summarises_a_task(pen_params, capsys):
    assert main(["process", "data", "--task", "pen_softsensor", *_cli_args(pen_params("pen_softsensor"))]) == 0
    out = capsys.readouterr().out
    assert "task pen_softsensor (sequence_regression), 18 variables, targets ['penicillin']" in out
    assert "train      4 samples" in out


def test_quality_baselines_regress_the_final_penicillin_then_threshold(built):
    from heedful.process.tasks.pen_classify import quality_class

    data = built["pen_quality"]
    assert data.test.value is not None and (quality_class(data.test.value, (15, 25)) == data.test.y).all()
    for name in ("ridge", "pls"):  # logistic needs two classes; these 30-hour batches are all "failed"
        pred, params = get_task(data.name).fit_classical(name, data)
        assert pred.shape == data.test.y.shape and params > 0
        assert (pred == 2).all()  # every batch here ends far below 15 g/L: the thresholds say C


def test_quality_can_regress_the_final_penicillin_then_threshold(pen_params, tmp_path):
    from heedful.process.tasks import evaluate
    from heedful.process.tasks.pen_classify import quality_class

    data = build_task("pen_quality", **pen_params("pen_quality"), target="value")
    assert data.kind == "regression" and data.target_names == ["final_penicillin"]
    perfect = evaluate(data, data.test.y)
    assert perfect["accuracy"] == 1.0 and perfect["final_penicillin_mae"] == pytest.approx(0, abs=1e-4)
    pred = get_task(data.name).fit_classical("ridge", data)[0]
    report = evaluate(data, pred)
    final = pred[:, 0] * data.target_scaler.scale[0] + data.target_scaler.mean[0]
    expected = (quality_class(final, (15, 25)) == quality_class(data.test.value, (15, 25))).mean()
    assert report["accuracy"] == pytest.approx(expected)
    assert report["final_penicillin_mae"] == pytest.approx(np.abs(final - data.test.value).mean(), rel=1e-5)
    args = ["--task", "pen_quality", *_cli_args(pen_params("pen_quality")), "--set", "target=value", "--epochs", "1"]
    assert main(["process", "train", "--model", "gru", *args, "--hidden-size", "8", "--out", str(tmp_path)]) == 0


PERFECT = {
    "pen_quality": {"accuracy": 1.0},
    "pen_phase": {"accuracy": 1.0},
    "pen_faults": {"overall_accuracy": 1.0, "false_alarm_rate": 0.0},
    "pen_endtime": {"mae_hours": 0.0},
    "pen_forecast": {"r2": 1.0},
    "pen_softsensor": {"r2": 1.0, "rmse_g_per_l": 0.0},
    "pen_repair": {"rmse": 0.0, "r2": 1.0},
}


@pytest.mark.parametrize("task", PEN_TASKS)
def test_metrics_of_perfect_and_of_constant_predictions(built, task):
    data = built[task]
    perfect = get_task(data.name).evaluate(data, data.test.y.copy())
    for key, value in PERFECT[task].items():
        assert perfect[key] == pytest.approx(value, abs=1e-5), (key, perfect)
    if data.kind in ("forecast", "sequence_regression"):  # predicting the training mean (0 in scaled units)
        constant = get_task(data.name).evaluate(data, np.zeros_like(data.test.y))
        assert constant["r2"] < perfect["r2"]


def test_segment_summary_uses_valid_steps_only():
    from heedful.process.baselines import segment_summary

    x = np.zeros((2, 8, 1))
    x[0, :4, 0] = [1, 2, 3, 4]
    x[0, 4:] = 99.0  # padding: must not reach any feature
    x[1, :, 0] = np.arange(8)
    f = segment_summary(x, np.array([4, 8]), segments=2)
    assert f.shape == (2, 2 + 1 + 1 + 1)
    np.testing.assert_allclose(f[0, :4], [1.5, 3.5, 4.0, np.std([1, 2, 3, 4])])
    np.testing.assert_allclose(f[1, :3], [1.5, 5.5, 7.0])
    short = segment_summary(x[:1], np.array([1]), segments=4)  # fewer steps than stretches: no empty mean
    assert np.isfinite(short).all() and (short[0, :4] == 1.0).all()


def test_boosting_baseline_regresses_the_value_behind_the_class(pen_params):
    from heedful.process.tasks.pen_classify import final_estimate

    data = build_task("pen_quality", **pen_params("pen_quality"), target="value")
    pred, leaves = get_task(data.name).fit_classical("boosting", data)
    assert pred.shape == data.test.y.shape and leaves > 0
    final = final_estimate(pred, data)
    assert np.isfinite(final).all() and final.min() >= data.train.value.min() - 1e-6  # trees stay in the seen range
    with pytest.raises(InputError, match="boosting needs"):
        soft = build_task("pen_softsensor", **pen_params("pen_softsensor"))
        get_task(soft.name).fit_classical("boosting", soft)
