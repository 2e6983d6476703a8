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
