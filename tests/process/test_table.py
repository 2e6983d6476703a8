"""``table``: your own batch records, from small CSV files these tests write, end to end through the CLI."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from heedful.cli import main
from heedful.errors import InputError
from heedful.process.tasks import build_task

FAST = ["--epochs", "2", "--hidden-size", "4", "--batch-size", "16"]


def batch_frame(i: int, steps: int = 24, rng=None) -> pd.DataFrame:
    """Three phases (0-7, 8-15, 16-end) that shift the inputs; a grade from the batch's level."""
    rng = rng or np.random.default_rng(i)
    t = np.arange(steps) * 2.0
    phase = np.where(np.arange(steps) < 8, "heat", np.where(np.arange(steps) < 16, "react", "cool"))
    level = 1.0 + (i % 3)
    a = level + (phase == "react") * 3.0 + rng.normal(0, 0.1, steps)
    b = np.cumsum(rng.normal(0, 0.1, steps)) - (phase == "cool") * 2.0
    grade = "A" if i % 2 else "B"
    return pd.DataFrame({"time": t, "a": a, "b": b, "phase": phase, "grade": grade, "yield": level * 10 + i})


def write_folder(folder, n: int = 8, **changes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        batch_frame(i).to_csv(folder / f"b{i:02d}.csv", index=False)
    for name, frame in changes.items():
        frame.to_csv(folder / f"{name}.csv", index=False)


@pytest.fixture()
def folder(tmp_path):
    write_folder(tmp_path / "batches")
    return tmp_path / "batches"


BASE = ["--time-column", "time", "--inputs", "a,b"]


def params(folder, **kw):
    return {"path": str(folder), "time_column": "time", "inputs": "a,b", "target_column": "phase", **kw}


def test_per_step_phase_whole_batches(folder):
    data = build_task("table", **params(folder))
    assert data.kind == "sequence_classification"
    assert data.class_names == ["cool", "heat", "react"]
    assert data.train.x.shape[1:] == (24, 2)  # no missing value: no mask channel
    assert len(data.train) + len(data.val) + len(data.test) == 8


def test_batch_grade_and_value(folder):
    data = build_task("table", **params(folder, target_column="grade", target_kind="batch_class"))
    assert data.kind == "classification" and data.class_names == ["A", "B"]
    value = build_task("table", **params(folder, target_column="yield", target_kind="batch_value"))
    assert value.kind == "regression" and value.target_names == ["yield"]
    real = value.train.y[:, 0] * value.target_scaler.scale[0] + value.target_scaler.mean[0]
    assert np.allclose(sorted(real), sorted(10 * (1 + i % 3) + i for i in value.train.run))


def test_one_table_with_batch_column_and_windows(tmp_path):
    frames = [batch_frame(i).assign(batch=f"B{i}") for i in range(6)]
    pd.concat(frames).to_parquet(tmp_path / "all.parquet")
    data = build_task(
        "table", **params(tmp_path / "all.parquet", batch_column="batch", window=6, stride=3, split_seed=1)
    )
    assert data.kind == "classification" and data.train.x.shape[1:] == (6, 2)
    # each window is labelled with the phase at its last step
    assert set(np.unique(data.train.y)) == {0, 1, 2}


def test_missing_values_get_a_mask_channel_not_a_fill(tmp_path):
    frame = batch_frame(0)
    frame.loc[3:5, "a"] = np.nan
    write_folder(tmp_path / "d", gap=frame)
    data = build_task("table", **params(tmp_path / "d", split_seed=0))
    assert data.feature_names == ["a", "b", "a observed"]
    everything = np.concatenate([s.x.reshape(-1, 3) for s in (data.train, data.val, data.test)])
    assert np.isfinite(everything).all()
    missing = everything[:, 2] == 0
    assert missing.sum() == 3 and (everything[missing, 0] == 0).all()


def test_uneven_sampling_refused_or_put_on_a_grid(tmp_path):
    frame = batch_frame(0)
    frame.loc[10:, "time"] += 3.0  # a gap: one step of 5 instead of 2
    write_folder(tmp_path / "d", uneven=frame)
    with pytest.raises(InputError, match=re.escape("uneven.csv: column 'time': uneven sampling")):
        build_task("table", **params(tmp_path / "d"))
    data = build_task("table", **params(tmp_path / "d", grid=2.0))
    # the uneven batch now has a missing grid point, masked (not filled)
    assert "a observed" in data.feature_names


def test_schema_file(folder, tmp_path):
    schema = tmp_path / "plant.toml"
    schema.write_text(
        f'path = "{folder.name}"\ntime_column = "time"\ninputs = ["a", "b"]\n'
        'target_column = "grade"\ntarget_kind = "batch_class"\n'
    )
    data = build_task("table", schema=str(schema))
    assert data.kind == "classification" and data.params["path"] == str(folder)
    # a flag that differs from the default wins over the file
    assert build_task("table", schema=str(schema), target_kind="step_class", target_column="phase").n_classes == 3
    schema.write_text('path = "x"\ncolour = "red"\n')
    with pytest.raises(InputError, match=re.escape("plant.toml: unknown key 'colour'")):
        build_task("table", schema=str(schema))


def test_schema_file_without_tomllib_reads_with_tomli(folder, tmp_path, monkeypatch):
    """Python 3.10 has no tomllib: the schema is read by tomli, the same parser (here tomllib under that name)."""
    import sys

    tomllib = pytest.importorskip("tomllib")  # on 3.10 every schema test goes through tomli anyway
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib now raises ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "tomli", tomllib)
    schema = tmp_path / "plant.toml"
    schema.write_text(f'path = "{folder.name}"\ntime_column = "time"\ninputs = ["a", "b"]\ntarget_column = "grade"\n')
    assert build_task("table", schema=str(schema)).params["path"] == str(folder)
    schema.write_text("path = [")
    with pytest.raises(InputError, match=re.escape("plant.toml: not valid TOML")):
        build_task("table", schema=str(schema))


BAD = {
    "missing column": (lambda f: f.drop(columns="b"), "bad.csv: column 'b' named by the schema is not there"),
    "mixed types": (lambda f: f.astype({"a": object}).assign(a=lambda d: d.a.where(d.index != 4, "oops")),
                    "bad.csv: column 'a' row 5: 'oops' is not a number"),
    "duplicate time": (lambda f: f.assign(time=f.time.where(f.index != 3, 4.0)),
                       "bad.csv: column 'time' row 4: duplicate time stamp 4"),
    "backwards time": (lambda f: f.assign(time=f.time.where(f.index != 3, 1.0)),
                       "bad.csv: column 'time' row 4: time goes backwards"),
    "too short": (lambda f: f.iloc[:4], "bad: batch of 4 steps is shorter than the window of 6"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_batch_one_line_exit_2_and_skip_invalid(tmp_path, capsys, case):
    change, message = BAD[case]
    write_folder(tmp_path / "d", bad=change(batch_frame(99)))
    argv = ["process", "data", "--task", "table", "--path", str(tmp_path / "d"), *BASE, "--target-column", "phase"]
    argv += ["--window", "6"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert main([*argv, "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "skipped:" in out and message in out and "task table" in out


def test_folder_and_target_errors(tmp_path, folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty folder"):
        build_task("table", **params(tmp_path / "empty"))
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match=re.escape("notes.txt: not a CSV or Parquet file")):
        build_task("table", **params(folder))
    (folder / "notes.txt").unlink()
    for f in folder.iterdir():
        pd.read_csv(f).assign(grade="A").to_csv(f, index=False)
    with pytest.raises(InputError, match="target column 'grade' has one class only"):
        build_task("table", **params(folder, target_column="grade", target_kind="batch_class"))
    with pytest.raises(InputError, match="target_kind must be one of"):
        build_task("table", **params(folder, target_kind="phase"))


def test_cli_train_compare_predict_explain(tmp_path, capsys):
    """The generic path end to end: train, predict and explain a windowed attention model; compare with a baseline."""
    write_folder(tmp_path / "d")
    common = ["--task", "table", "--path", str(tmp_path / "d"), *BASE, "--target-column", "phase", "--window", "6"]
    out = tmp_path / "runs"
    assert main(["process", "train", "--model", "bigru_attn", *common, *FAST, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    csv = tmp_path / "new.csv"
    frame = batch_frame(50)
    frame.to_csv(csv, index=False)
    assert main(["process", "predict", str(run), "--csv", str(csv), "--out", str(tmp_path / "p.json")]) == 0
    result = json.loads((tmp_path / "p.json").read_text())
    assert len(result["predictions"]) == 24 - 6 + 1 and set(result["predictions"]) <= {"heat", "react", "cool"}
    png = tmp_path / "explain.png"
    capsys.readouterr()
    assert main(["process", "explain", str(run), "--out", str(png)]) == 0
    assert png.stat().st_size > 0 and "label changes at steps [8, 16]" in capsys.readouterr().out
    cmp_out = tmp_path / "cmp"
    assert main(["process", "compare", *common, "--models", "gru,logistic", *FAST, "--out", str(cmp_out)]) == 0
    assert "logistic" in capsys.readouterr().out


def test_cli_batch_value_predict(tmp_path, capsys):
    write_folder(tmp_path / "d")
    common = ["--task", "table", "--path", str(tmp_path / "d"), *BASE, "--target-column", "yield"]
    out = tmp_path / "runs"
    argv = ["process", "train", "--model", "gru", *common, "--target-kind", "batch_value", *FAST, "--out", str(out)]
    assert main(argv) == 0
    (run,) = out.iterdir()
    csv = tmp_path / "new.csv"
    batch_frame(3).to_csv(csv, index=False)
    capsys.readouterr()
    assert main(["process", "predict", str(run), "--csv", str(csv)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["targets"] == ["yield"] and np.isfinite(shown["prediction"]).all()


def test_nylon_autoclave_batches_from_process_improve():
    """The worked example of docs/process.md, read from the installed package (skipped without it)."""
    pytest.importorskip("process_improve")
    from importlib.resources import files

    path = files("process_improve") / "datasets" / "batch" / "nylon.csv"
    data = build_task("table", path=str(path), batch_column="batch_id", target_column="Tag01", window=8, stride=8)
    assert data.class_names == ["1", "2", "3", "4", "5"] and data.n_features == 9
    assert len(data.params["batch_names"]) == 57


def test_split_column_and_per_step_values(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(6):
        batch_frame(i).assign(use=["train", "train", "train", "val", "test", "test"][i]).to_csv(
            folder / f"b{i}.csv", index=False
        )
    data = build_task("table", **params(folder, target_column="yield", target_kind="step_value", split_column="use"))
    assert data.kind == "sequence_regression" and data.train.y.shape == (3, 24, 1)
    assert sorted(data.test.run.tolist()) == [4, 5] and data.test.mask.all()
    bad = pd.read_csv(folder / "b0.csv")
    bad.loc[5, "use"] = "test"
    bad.to_csv(folder / "b0.csv", index=False)
    with pytest.raises(InputError, match=re.escape("column 'use' must hold one of train / val / test")):
        build_task("table", **params(folder, split_column="use"))


def test_forecast_through_the_cli(tmp_path, capsys):
    write_folder(tmp_path / "d")
    common = ["--task", "table", "--path", str(tmp_path / "d"), "--time-column", "time", "--inputs", "a"]
    common += ["--target-column", "b", "--target-kind", "forecast", "--window", "6", "--horizon", "3"]
    data = build_task("table", **params(tmp_path / "d", inputs="a", target_column="b", target_kind="forecast",
                                        window=6, horizon=3))  # fmt: skip
    assert data.kind == "forecast" and data.feature_names == ["a", "b"] and data.train.y.shape[1:] == (3, 1)
    # targets share the input scaling of the target's own channel: persistence reads them from the inputs
    assert data.target_scaler.mean[0] == data.scaler.mean[1]
    out = tmp_path / "cmp"
    assert main(["process", "compare", *common, "--models", "gru,persistence", *FAST, "--out", str(out)]) == 0
    assert "persistence R²" in capsys.readouterr().out
    run = out / next(iter(p.name for p in out.iterdir())) / "models" / "gru"
    csv = tmp_path / "new.csv"
    batch_frame(40).to_csv(csv, index=False)
    assert main(["process", "predict", str(run), "--csv", str(csv)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert np.asarray(shown["prediction"]).shape == (3, 1)
    with pytest.raises(InputError, match="forecast needs window >= 2 and horizon >= 1"):
        build_task("table", **params(tmp_path / "d", target_column="b", target_kind="forecast", window=6))
