"""Hostile input, round 3 (issue 20), process track: each case is one line on stderr with exit code 2, never a
traceback, never a silently wrong model or a lost file."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from heedful.cli import main

TINY = ["--epochs", "1", "--hidden-size", "4", "--batch-size", "16"]


def _frame(i: int, steps: int = 16) -> pd.DataFrame:
    rng = np.random.default_rng(i)
    phase = np.where(np.arange(steps) < steps // 2, "heat", "cool")
    temp = 20 + (phase == "heat") * 5.0 + rng.normal(0, 0.1, steps)
    return pd.DataFrame({"time": np.arange(steps) * 2.0, "temp": temp, "pressure": rng.normal(1, 0.1, steps),
                         "phase": phase})  # fmt: skip


def _folder(path, n: int = 6, **changed) -> str:
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _frame(i).to_csv(path / f"b{i}.csv", index=False)
    for name, frame in changed.items():
        frame.to_csv(path / f"{name}.csv", index=False)
    return str(path)


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.startswith("heedful: error:") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert str(needle) in err, err
    return err


def _table(path) -> list[str]:
    return ["--task", "table", "--path", str(path), "--time-column", "time", "--target-column", "phase"]


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A one-epoch GRU run on six small batches, trained through the CLI once."""
    root = tmp_path_factory.mktemp("tablerun")
    data = _folder(root / "data")
    assert main(["process", "train", *_table(data), "--model", "gru", *TINY, "--out", str(root / "runs")]) == 0
    (run,) = (root / "runs").iterdir()
    return run


@pytest.fixture
def new_csv(tmp_path):
    path = tmp_path / "in.csv"
    _frame(9)[["temp", "pressure"]].to_csv(path, index=False)
    return path


# --- 1. data lost: an output path equal to an input ------------------------------------------------------


def test_predict_refuses_to_write_over_its_csv(table_run, new_csv, capsys):
    before = new_csv.read_bytes()
    assert main(["process", "predict", str(table_run), "--csv", str(new_csv), "--out", str(new_csv)]) == 2
    _one_line_error(capsys, "is the input", new_csv)
    link = new_csv.with_name("link.csv")
    os.link(new_csv, link)  # the same file under another name
    assert main(["process", "predict", str(table_run), "--csv", str(new_csv), "--out", str(link)]) == 2
    _one_line_error(capsys, "is the input")
    assert new_csv.read_bytes() == before


@pytest.mark.parametrize("name", ["config.json", "checkpoint/best.safetensors", "data"])
def test_predict_and_explain_refuse_to_write_over_the_runs_files(table_run, new_csv, name, capsys):
    target = table_run / name if name != "data" else table_run.parent.parent / "data" / "b0.csv"
    before = target.read_bytes()
    assert main(["process", "predict", str(table_run), "--csv", str(new_csv), "--out", str(target)]) == 2
    _one_line_error(capsys, "is the input")
    assert main(["process", "explain", str(table_run), "--out", str(target)]) == 2
    _one_line_error(capsys, "is the input")
    assert target.read_bytes() == before


def test_report_refuses_to_write_over_a_file_of_the_run(table_run, capsys):
    before = (table_run / "metrics.json").read_bytes()
    assert main(["report", str(table_run), "--out", str(table_run / "metrics.json")]) == 2
    _one_line_error(capsys, "is the input")
    assert (table_run / "metrics.json").read_bytes() == before


# --- 3. tracebacks: over-long names, a parent that is a file ---------------------------------------------


def test_over_long_output_names_are_one_line(table_run, new_csv, tmp_path, capsys):
    folder = tmp_path / ("x" * 300)
    assert main(["process", "train", *_table(table_run.parent.parent / "data"), "--model", "gru", *TINY,
                 "--out", str(folder)]) == 2  # fmt: skip
    _one_line_error(capsys, "over the file system's limit")
    out = tmp_path / "/".join(["y" * 200] * 25)  # 5,000 characters
    assert main(["process", "predict", str(table_run), "--csv", str(new_csv), "--out", str(out)]) == 2
    _one_line_error(capsys, "over the file system's limit")


def test_a_name_as_long_as_allowed_is_written(tmp_path):
    from heedful.runs import write_json

    path = write_json(tmp_path / ("z" * 250 + ".json"), {"ok": True})  # its temporary name must fit too
    assert json.loads(path.read_text()) == {"ok": True}


@pytest.mark.parametrize("command", ["predict", "report", "explain"])
def test_output_whose_parent_is_a_file_is_one_line(table_run, new_csv, tmp_path, command, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    out = str(afile / "out.x")
    argv = {
        "predict": ["process", "predict", str(table_run), "--csv", str(new_csv), "--out", out],
        "report": ["report", str(table_run), "--out", out],
        "explain": ["process", "explain", str(table_run), "--out", out],
    }[command]
    assert main(argv) == 2
    _one_line_error(capsys, "is a file, not a folder")
    assert afile.read_text() == "keep me"


def test_run_folder_root_under_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    data = _folder(tmp_path / "data")
    assert main(["process", "train", *_table(data), "--model", "gru", *TINY, "--out", str(afile / "runs")]) == 2
    _one_line_error(capsys, "is a file, not a folder")


def test_copy_of_a_run_is_not_its_input(table_run, new_csv, tmp_path):
    """The same name in another folder is another file: only the same file is refused."""
    copy = tmp_path / "run"
    shutil.copytree(table_run, copy)
    assert main(["process", "predict", str(table_run), "--csv", str(new_csv), "--out", str(copy / "config.json")]) == 0


# --- 2. silently wrong: non-finite or absurd training values -------------------------------------------------


def _data_argv(folder) -> list[str]:
    return ["process", "data", *_table(folder)]


@pytest.mark.parametrize("cell", ["inf", "-Infinity", "1e308", "-4e38"])
def test_non_finite_or_absurd_training_cell_is_refused_by_file_row_and_column(tmp_path, cell, capsys):
    bad = _frame(7).astype({"temp": object})
    bad.loc[4, "temp"] = cell
    folder = _folder(tmp_path / "d", bad=bad)
    assert main(_data_argv(folder)) == 2
    _one_line_error(capsys, "bad.csv: column 'temp' row 5", "empty the cell to mark it missing")
    assert main([*_data_argv(folder), "--skip-invalid"]) == 0
    assert "skipped:" in capsys.readouterr().out


def test_non_finite_parquet_value_is_refused(tmp_path, capsys):
    folder = tmp_path / "d"
    _folder(folder)
    bad = _frame(7)
    bad.loc[2, "pressure"] = np.inf
    bad.to_parquet(folder / "bad.parquet")
    assert main(_data_argv(folder)) == 2
    _one_line_error(capsys, "bad.parquet: column 'pressure' row 3")


def test_a_diverging_trainer_stops_loudly_and_saves_nothing(tmp_path):

    from heedful.errors import InputError
    from heedful.process.config import ModelConfig, TrainConfig
    from heedful.process.models import build_model
    from heedful.process.tasks import build_task
    from heedful.process.train import fit

    data = build_task("table", path=_folder(tmp_path / "d"), time_column="time", target_column="phase", window=4)
    model = build_model("gru", data, ModelConfig(hidden_size=4))
    data.train.x[:] = np.nan  # what an inf cell became before the reader refused it
    with pytest.raises(InputError, match="training diverged in epoch 1"):
        fit(model, data.train, data.val, TrainConfig(epochs=1), tmp_path / "ckpt", False, data.kind)
    assert not (tmp_path / "ckpt" / "best.safetensors").exists()


def test_a_run_with_nan_weights_is_refused_by_predict(table_run, new_csv, tmp_path, capsys):
    from heedful.checkpoint import load_tensors, save_tensors

    copy = tmp_path / "run"
    shutil.copytree(table_run, copy)
    best = copy / "checkpoint" / "best.safetensors"
    save_tensors(best, {k: v * float("nan") for k, v in load_tensors(best).items()})
    assert main(["process", "predict", str(copy), "--csv", str(new_csv)]) == 2
    _one_line_error(capsys, "best.safetensors", "NaN or inf weights", "train the run again")


def test_a_scaler_is_finite():
    from heedful.errors import InputError
    from heedful.process.windows import Scaler

    with pytest.raises(InputError, match="not finite"):
        Scaler(np.array([np.inf], np.float32), np.array([1.0], np.float32))


# --- 4. one number grammar, an all-empty column ------------------------------------------------------------


@pytest.mark.parametrize("cell", ["1_000", "\u0661\u0662", "0x10", "1e5e5"])
def test_training_and_predict_read_numbers_alike(table_run, tmp_path, cell, capsys):
    bad = _frame(7).astype({"temp": object})
    bad.loc[2, "temp"] = cell
    assert main(_data_argv(_folder(tmp_path / "d", bad=bad))) == 2
    _one_line_error(capsys, "column 'temp' row 3", "not a number")
    csv = tmp_path / "p.csv"
    bad[["temp", "pressure"]].to_csv(csv, index=False)
    assert main(["process", "predict", str(table_run), "--csv", str(csv)]) == 2
    _one_line_error(capsys, "column 'temp'", "not a number")


def test_number_grammar_properties():
    from hypothesis import given
    from hypothesis import strategies as st

    from heedful.process.numbers import FLOAT32_MAX, parse_number

    @given(st.floats(allow_nan=False, allow_infinity=False, min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX))
    def finite_round_trip(x):
        assert parse_number(repr(x)) == x

    @given(st.text(max_size=12))
    def anything_is_a_number_or_a_clear_refusal(text):
        try:
            value = parse_number(text)
        except ValueError as err:
            assert "number" in str(err) or "beyond float32's range" in str(err)  # e.g. '1E100'
        else:
            assert np.isnan(value) or abs(value) <= FLOAT32_MAX

    finite_round_trip()
    anything_is_a_number_or_a_clear_refusal()


def test_an_all_empty_column_is_one_error_without_warnings(tmp_path, capsys):
    folder = tmp_path / "d"
    _folder(folder)
    for f in folder.iterdir():
        pd.read_csv(f).assign(pressure="").to_csv(f, index=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(_data_argv(folder)) == 2
    _one_line_error(capsys, "input column 'pressure' has no observed value")


# --- 2. silently wrong: duplicate column names, schema types and contradictions ---------------------------


def test_two_columns_with_one_name_are_refused(tmp_path, capsys):
    folder = tmp_path / "d"
    _folder(folder)
    (folder / "b0.csv").write_text("time,temp,temp,phase\n0,1,2,heat\n2,1,2,cool\n")
    assert main(_data_argv(folder)) == 2
    _one_line_error(capsys, "b0.csv: the header names ['temp'] more than once")
    (folder / "b0.csv").write_text("time,temp,,phase\n0,1,2,heat\n2,1,2,cool\n")
    assert main(_data_argv(folder)) == 2
    _one_line_error(capsys, "b0.csv: column 3 of the header has no name")


def test_an_input_named_twice_is_refused(tmp_path, capsys):
    assert main([*_data_argv(_folder(tmp_path / "d")), "--inputs", "temp,temp"]) == 2
    _one_line_error(capsys, "inputs: ['temp'] given more than once")


def _schema(tmp_path, text: str, encoding: str = "utf-8") -> list[str]:
    _folder(tmp_path / "d")
    path = tmp_path / "s.toml"
    path.write_bytes(text.encode(encoding))
    return ["process", "data", "--task", "table", "--schema", str(path)]


GOOD_SCHEMA = 'path = "d"\ntime_column = "time"\ntarget_column = "phase"\n'


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('skip_invalid = "false"', "skip_invalid must be true or false, got 'false'"),
        ("inputs = 5", "inputs must be a string, got 5"),
        ("window = 2.5", "window must be an integer"),
        ("grid = true", "grid must be a number, got True"),
        ('split_seed = "1"', "split_seed must be an integer"),
        ("split_seed = -3", "split_seed must be >= 0"),
        ('batch_column = "phase"', "batch_column and target_column name the same column 'phase'"),
        ('split_column = "time"', "time_column and split_column name the same column 'time'"),
    ],
)
def test_schema_values_are_type_checked_and_contradictions_refused(tmp_path, line, needle, capsys):
    assert main(_schema(tmp_path, GOOD_SCHEMA + line + "\n")) == 2
    _one_line_error(capsys, needle)


def test_schema_path_must_be_a_string(tmp_path, capsys):
    assert main(_schema(tmp_path, 'path = 5\ntarget_column = "phase"\n')) == 2
    _one_line_error(capsys, "s.toml: path must be a string, got 5")


def test_latin1_schema_is_one_line_and_a_bom_is_fine(tmp_path, capsys):
    assert main(_schema(tmp_path, GOOD_SCHEMA + '# température\ninputs = "temp"\n', "latin-1")) == 2
    _one_line_error(capsys, "s.toml: not UTF-8 text")
    assert main(_schema(tmp_path, "\ufeff" + GOOD_SCHEMA)) == 0


def test_negative_split_seed_flag_is_one_line(tmp_path, capsys):
    assert main([*_data_argv(_folder(tmp_path / "d")), "--split-seed", "-1"]) == 2
    _one_line_error(capsys, "split_seed must be >= 0")


# --- 3. tracebacks: time zones, grid size ----------------------------------------------------------------


def test_time_stamps_in_mixed_time_zones_are_one_line(tmp_path, capsys):
    folder = tmp_path / "d"
    _folder(folder)
    frame = _frame(7)
    zones = ["+01:00", "+02:00"] * 8
    frame["time"] = [f"2024-03-31 00:{m:02d}:00{z}" for m, z in zip(range(16), zones, strict=True)]
    frame.to_csv(folder / "tz.csv", index=False)
    assert main(_data_argv(folder)) == 2
    _one_line_error(capsys, "tz.csv: column 'time': time stamps in more than one time zone")


def test_a_grid_too_fine_is_refused_before_allocating(tmp_path, capsys):
    assert main([*_data_argv(_folder(tmp_path / "d")), "--grid", "1e-12"]) == 2
    _one_line_error(capsys, "grid step 1e-12 makes", "give a coarser grid")
    assert main([*_data_argv(_folder(tmp_path / "d")), "--grid", "0.5"]) == 0  # 4 points per row: fine


# --- 3. tracebacks: run folders whose files were edited -------------------------------------------------------


def _edited_run(table_run, tmp_path, section: str, key: str, value):
    copy = tmp_path / "run"
    shutil.copytree(table_run, copy)
    config = json.loads((copy / "config.json").read_text())
    config[section][key] = value
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize("size", [10**6, 2**70])
def test_a_config_asking_for_a_huge_model_is_checked_against_the_weights_first(
    table_run, new_csv, tmp_path, size, capsys
):
    run = _edited_run(table_run, tmp_path, "model_params", "hidden_size", size)
    assert main(["process", "predict", str(run), "--csv", str(new_csv)]) == 2  # 10**6 allocated 12 GB before
    _one_line_error(capsys, "config.json")
    assert main(["process", "train", "--resume", str(run)]) == 2
    _one_line_error(capsys, "config.json")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda s: s.update(dir="stepX"), "state.json"),
        (lambda s: s.update(epoch="one"), "epoch"),
        (lambda s: s.update(history="abc"), "history"),
        (lambda s: s.update(best=None), "best must be a number"),
        (lambda s: s.update(epoch=-2), "epoch"),
    ],
)
def test_a_damaged_state_json_is_one_line_on_resume(table_run, tmp_path, change, needle, capsys):
    copy = _edited_run(table_run, tmp_path, "train", "epochs", 3)  # epochs left to run
    path = copy / "checkpoint" / "state.json"
    state = json.loads(path.read_text())
    step = state["dir"]
    change(state)
    if state["dir"] != step:  # the folder renamed too: it loaded, and the next save failed on its name
        (path.parent / step).rename(path.parent / state["dir"])
    path.write_text(json.dumps(state))
    assert main(["process", "train", "--resume", str(copy)]) == 2
    _one_line_error(capsys, "state.json", needle)


# --- 4. the report names pictures it cannot show --------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"GIF89a not a png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_report_lists_broken_pictures_as_problems(table_run, tmp_path, content, capsys):
    copy = tmp_path / "run"
    shutil.copytree(table_run, copy)
    (copy / "broken.png").write_bytes(content)
    assert main(["report", str(copy)]) == 2
    _one_line_error(capsys, "broken.png: not a readable PNG picture")
    assert 'alt="broken.png"' not in (copy / "report.html").read_text()  # named as a problem, not embedded
