"""Hostile input, round 4 (a fresh hand sweep), process track: each case failed before its fix (a traceback, a
misleading line, a device node replaced by a file, a header check that never ended)."""

import os
import time

import numpy as np
import pandas as pd
import pytest

from heedful.cli import main

TINY = ["--epochs", "1", "--hidden-size", "4", "--batch-size", "16"]


def _folder(path, n: int = 6):
    path.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rng = np.random.default_rng(i)
        phase = np.where(np.arange(16) < 8, "heat", "cool")
        temp = 20 + (phase == "heat") * 5.0 + rng.normal(0, 0.1, 16)
        frame = pd.DataFrame({"time": np.arange(16) * 2.0, "temp": temp, "pressure": rng.normal(1, 0.1, 16)})
        frame.assign(phase=phase).to_csv(path / f"b{i}.csv", index=False)
    return path


def _table(path) -> list[str]:
    return ["--task", "table", "--path", str(path), "--time-column", "time", "--target-column", "phase"]


def one_line(capsys, code: int, *needles) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("heedful: error:") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run4")
    data = _folder(root / "data")
    assert main(["process", "train", *_table(data), "--model", "gru", *TINY, "--out", str(root / "runs")]) == 0
    (run,) = (root / "runs").iterdir()
    (root / "in.csv").write_text("temp,pressure\n" + "21,1\n" * 12)
    return run, root / "in.csv"


@pytest.mark.parametrize(("flag", "value"), [("--seed", 2**64), ("--epochs", 10**30), ("--seed", -(2**63) - 1)])
def test_integers_beyond_64_bits_are_one_line(tmp_path, capsys, flag, value):
    """Before: torch's "Overflow when unpacking long long" and tqdm's OverflowError, as tracebacks."""
    argv = ["process", "train", *_table(_folder(tmp_path / "d")), "--model", "gru", *TINY, flag, str(value)]
    one_line(capsys, main([*argv, "--out", str(tmp_path / "o")]), flag.lstrip("-"), "64 bits")


def test_an_empty_inputs_list_in_a_schema_is_refused(tmp_path, capsys):
    """Before: ``inputs = []`` trained on every column, the opposite of what it says."""
    data = _folder(tmp_path / "d")
    schema = tmp_path / "s.toml"
    schema.write_text(f'path = "{data}"\ntime_column = "time"\ntarget_column = "phase"\ninputs = []\n')
    argv = ["process", "train", "--task", "table", "--schema", str(schema), "--model", "gru", *TINY]
    one_line(capsys, main([*argv, "--out", str(tmp_path / "o")]), "inputs is an empty list")


@pytest.mark.parametrize(("csv", "needle"), [("/dev/null", "not a regular file"), ("folder", "is a folder")])
def test_predict_csv_that_is_no_regular_file_says_what_it_is(table_run, tmp_path, capsys, csv, needle):
    """Before: "no such file: /dev/null" for a path that exists."""
    run, _ = table_run
    csv = str(tmp_path) if csv == "folder" else csv
    one_line(capsys, main(["process", "predict", str(run), "--csv", csv, "--out", str(tmp_path / "p.json")]), needle)


def test_predict_out_to_a_fifo_is_refused_and_the_fifo_kept(table_run, tmp_path, capsys):
    """Before: the rename replaced the special file itself (as root, ``--out /dev/full`` turned the device into a
    JSON file)."""
    run, csv = table_run
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    one_line(capsys, main(["process", "predict", str(run), "--csv", str(csv), "--out", str(fifo)]), "regular file")
    assert fifo.is_fifo()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_an_output_where_no_file_can_be_made_names_the_output(table_run, capsys):
    """Before: "[Errno 2] No such file or directory: '/proc/.p.json.<uuid>.tmp'", naming our temporary file."""
    run, csv = table_run
    err = one_line(capsys, main(["process", "predict", str(run), "--csv", str(csv), "--out", "/proc/p.json"]))
    assert "/proc/p.json: cannot write there" in err and ".tmp" not in err


def test_a_header_of_100000_columns_is_checked_in_linear_time(table_run, tmp_path, capsys):
    """Before: the repeated-name check counted every name in the whole header (10¹⁰ steps: hours, also for a 700 KB
    request body in the service)."""
    run, _ = table_run
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join(["1"] * 100_000) + "\n")
    start = time.perf_counter()
    code = main(["process", "predict", str(run), "--csv", str(wide), "--out", str(tmp_path / "p.json")])
    one_line(capsys, code, "header lacks the columns ['temp', 'pressure']")
    assert time.perf_counter() - start < 60


def test_a_training_header_of_many_columns_is_checked_in_linear_time(tmp_path, capsys):
    data = _folder(tmp_path / "d", n=5)
    names = [f"c{i}" for i in range(60_000)]
    pd.DataFrame([np.ones(len(names))], columns=names).to_csv(data / "wide.csv", index=False)
    start = time.perf_counter()
    code = main(["process", "train", *_table(data), "--model", "gru", *TINY, "--out", str(tmp_path / "o")])
    one_line(capsys, code)
    assert time.perf_counter() - start < 60
