"""Property-based tests (issue 20): the ``table`` task's CSV, Parquet and TOML inputs and a run folder's own files
(config, state, scaler), arbitrarily edited, give a result or the one-line error with exit code 2: never a
traceback, never non-finite model inputs."""

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heedful.cli import main

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "NA", "inf", "-Infinity", "1e308", "3.4e38", "1_000", "\u0661", "0x1", " 2 ", "abc"]),
    st.text(max_size=5),
)
names = st.sampled_from(["temp", "pressure", "phase", "time", "", "temp.1", "Unnamed: 2", "é"])
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


def _batch(i: int) -> pd.DataFrame:
    rng = np.random.default_rng(i)
    phase = np.where(np.arange(12) < 6, "heat", "cool")
    return pd.DataFrame({"time": np.arange(12.0), "temp": 20 + (phase == "heat") * 5 + rng.normal(0, 0.1, 12),
                         "pressure": rng.normal(1, 0.1, 12), "phase": phase})  # fmt: skip


def _one_line_or_ok(code: int, capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("heedful: error:") and "\n" not in err, err
    return err


def _data_folder(root: Path, n: int = 5) -> Path:
    folder = root / "d"
    folder.mkdir()
    for i in range(n):
        _batch(i).to_csv(folder / f"b{i}.csv", index=False)
    return folder


ARGS = ["--task", "table", "--time-column", "time", "--target-column", "phase"]


def test_edited_csv_cells_and_header(capsys):
    @FEW
    @given(st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["time", "temp", "pressure"]), cells), max_size=4),
           st.lists(names, min_size=4, max_size=4), st.booleans())  # fmt: skip
    def check(edits, header, rename):
        with tempfile.TemporaryDirectory() as tmp:
            folder = _data_folder(Path(tmp))
            frame = _batch(9).astype(object)
            for row, col, cell in edits:
                frame.loc[row, col] = cell
            if rename:
                frame.columns = header
            try:
                frame.to_csv(folder / "edited.csv", index=False)
            except UnicodeEncodeError:
                return
            code = main(["process", "data", *ARGS, "--path", str(folder)])
            _one_line_or_ok(code, capsys)

    check()


def test_edited_parquet_values(capsys):
    @FEW
    @given(st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["temp", "pressure"]),
                              st.floats(allow_nan=True, allow_infinity=True)), max_size=3))  # fmt: skip
    def check(edits):
        from heedful.errors import InputError
        from heedful.process.tasks import build_task

        with tempfile.TemporaryDirectory() as tmp:
            folder = _data_folder(Path(tmp))
            frame = _batch(9)
            for row, col, value in edits:
                frame.loc[row, col] = value
            frame.to_parquet(folder / "edited.parquet")
            try:
                data = build_task("table", path=str(folder), time_column="time", target_column="phase")
            except InputError as err:
                assert "\n" not in str(err)
                return
            for split in (data.train, data.val, data.test):
                assert np.isfinite(split.x).all()

    check()


schema_keys = st.sampled_from(["path", "time_column", "batch_column", "inputs", "target_column", "target_kind",
                               "window", "stride", "grid", "split_seed", "skip_invalid", "val_fraction"])  # fmt: skip
toml_values = st.one_of(
    st.booleans(), st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), st.sampled_from(["time", "phase", "temp"]),
    st.text(max_size=5), st.lists(st.sampled_from(["temp", "pressure"]), max_size=3),
)  # fmt: skip


def test_schema_values_of_any_type(capsys):
    @FEW
    @given(st.dictionaries(schema_keys, toml_values, max_size=4), st.booleans())
    def check(values, bom):
        with tempfile.TemporaryDirectory() as tmp:
            _data_folder(Path(tmp))
            lines = ['path = "d"', 'time_column = "time"', 'target_column = "phase"']
            body = {line.split(" = ")[0]: line for line in lines}
            for key, value in values.items():
                body[key] = f"{key} = {json.dumps(value, ensure_ascii=False)}"
            schema = Path(tmp) / "s.toml"
            schema.write_text(("\ufeff" if bom else "") + "\n".join(body.values()) + "\n", encoding="utf-8")
            code = main(["process", "data", "--task", "table", "--schema", str(schema)])
            _one_line_or_ok(code, capsys)

    check()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prop-run")
    folder = _data_folder(root)
    argv = ["process", "train", *ARGS, "--path", str(folder), "--model", "gru", "--epochs", "1", "--hidden-size", "4"]
    assert main([*argv, "--out", str(root / "runs")]) == 0
    (found,) = (root / "runs").iterdir()
    return found


def _edit(obj: dict, path: list[str], value):
    target = obj
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target.get(key), dict) else target
    target[path[-1]] = value


config_paths = st.sampled_from([["model"], ["task"], ["model_params", "hidden_size"], ["model_params", "layers"],
                                ["task_params", "window"], ["task_params", "inputs"], ["train", "epochs"],
                                ["task_params", "skip_invalid"], ["task_params"], ["train", "lr"]])  # fmt: skip


def test_edited_run_config_for_predict(run, capsys):
    csv_text = _batch(20)[["temp", "pressure"]].to_csv(index=False)

    @settings(max_examples=20, deadline=None)
    @given(config_paths, json_values)
    def check(path, value):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "run"
            shutil.copytree(run, copy)
            config = json.loads((copy / "config.json").read_text())
            _edit(config, path, value)
            (copy / "config.json").write_text(json.dumps(config))
            (Path(tmp) / "in.csv").write_text(csv_text)
            code = main(["process", "predict", str(copy), "--csv", str(Path(tmp) / "in.csv")])
            _one_line_or_ok(code, capsys)

    check()


state_keys = st.sampled_from(["dir", "epoch", "best_val", "best_epoch", "stale", "seconds", "history", "format"])


def test_edited_state_json_for_resume(run, capsys):
    @settings(max_examples=15, deadline=None)
    @given(state_keys, json_values)
    def check(key, value):
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "run"
            shutil.copytree(run, copy)
            state_path = copy / "checkpoint" / "state.json"
            state = json.loads(state_path.read_text())
            state[key] = value
            state_path.write_text(json.dumps(state))
            _one_line_or_ok(main(["process", "train", "--resume", str(copy)]), capsys)

    check()


def test_a_scaler_is_finite_or_refused():
    from heedful.errors import InputError
    from heedful.process.windows import Scaler

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.floats(width=32), min_size=1, max_size=3), st.lists(st.floats(width=32), min_size=1, max_size=3))
    def check(mean, scale):
        try:
            s = Scaler(np.array(mean, np.float32), np.array(scale, np.float32))
        except InputError:
            return
        assert np.isfinite(s.mean).all() and (s.scale > 0).all()

    check()
