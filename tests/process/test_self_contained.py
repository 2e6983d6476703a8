"""A process run folder is all that prediction needs: train, move the run elsewhere, delete (or hide) the training
data, then predict, explain and report from a third working directory; the predictions equal those made before."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from heedful.cli import main
from heedful.errors import InputError
from heedful.process import runner
from heedful.process.sources import tep
from heedful.report.html import write_report
from heedful.serve.models import ProcessModel


def batch_frame(i: int, steps: int = 24):
    """Three phases that shift the inputs (as in test_table.py)."""
    rng = np.random.default_rng(i)
    phase = np.where(np.arange(steps) < 8, "heat", np.where(np.arange(steps) < 16, "react", "cool"))
    a = 1.0 + (i % 3) + (phase == "react") * 3.0 + rng.normal(0, 0.1, steps)
    b = np.cumsum(rng.normal(0, 0.1, steps)) - (phase == "cool") * 2.0
    return pd.DataFrame({"time": np.arange(steps) * 2.0, "a": a, "b": b, "phase": phase})


def write_folder(folder, n: int = 8) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        batch_frame(i).to_csv(folder / f"b{i:02d}.csv", index=False)


FAST = ["--epochs", "1", "--hidden-size", "4", "--batch-size", "16"]
SCHEMA = """path = "data/batches"
time_column = "time"
inputs = ["a", "b"]
target_column = "phase"
window = 6
"""


def _cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _predict(capsys, run, csv, out) -> dict:
    code, _, err = _cli(capsys, "process", "predict", run, "--csv", csv, "--out", out)
    assert code == 0, err
    return json.loads(out.read_text())


def _move(run, to):
    """The run folder alone, moved to ``to`` (a rename across folders, as a user's `mv`)."""
    to.mkdir(parents=True)
    return shutil.move(str(run), str(to / run.name))


def test_table_run_predicts_explains_and_reports_without_its_data(tmp_path, monkeypatch, capsys):
    home, away, third = tmp_path / "home", tmp_path / "away", tmp_path / "third"
    write_folder(home / "data" / "batches")
    (home / "plant.toml").write_text(SCHEMA)
    new = tmp_path / "new.csv"
    batch_frame(40).to_csv(new, index=False)  # a batch the model never saw
    monkeypatch.chdir(home)  # the schema and its data are named relative to this folder
    code, _, err = _cli(capsys, "process", "train", "--task", "table", "--schema", "plant.toml", "--model",
                        "bigru_attn", *FAST, "--out", "runs")  # fmt: skip
    assert code == 0, err
    (run,) = (home / "runs").iterdir()
    assert {"data.json", "scaler.json", "schema.toml"} <= {p.name for p in run.iterdir()}
    assert (run / "schema.toml").read_text() == SCHEMA
    before = _predict(capsys, run, new, tmp_path / "before.json")
    code, shown_before, err = _cli(capsys, "process", "explain", run, "--csv", new, "--out", tmp_path / "before.png")
    assert code == 0, err

    moved = _move(run, away)
    shutil.rmtree(home)  # the training data and the schema are gone
    third.mkdir()
    monkeypatch.chdir(third)
    after = _predict(capsys, moved, new, tmp_path / "after.json")
    assert after == before and len(after["predictions"]) == 24 - 6 + 1
    code, shown_after, err = _cli(capsys, "process", "explain", moved, "--csv", new, "--out", tmp_path / "after.png")
    assert code == 0, err
    assert _shown(shown_after)[1:] == _shown(shown_before)[1:]  # the same windows and attention
    assert (tmp_path / "after.png").read_bytes() == (tmp_path / "before.png").read_bytes()
    # the test batches are part of the deleted data: one line that says so and what to do instead
    code, _, err = _cli(capsys, "process", "explain", moved)
    assert code == 2 and err.count("\n") == 1 and "--csv" in err and "data/batches" in err
    page = write_report(moved).path.read_text()
    assert "test" in page and "bigru_attn" in page
    # the service loads it too and answers like predict
    served = ProcessModel.load(moved)
    values = np.asarray(batch_frame(40)[["a", "b"]], np.float64)[:6]
    assert served.predict([values])[0]["class"] == before["predictions"][0]


@pytest.fixture(scope="module")
def tep_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("tep") / "run.csv"
    np.savetxt(path, tep.load_run(1, "test").values[140:200], delimiter=",")
    return path


def test_tep_run_predicts_from_elsewhere_without_the_data(tmp_path, monkeypatch, capsys, tep_csv):
    home, away, third = tmp_path / "home", tmp_path / "away", tmp_path / "third"
    home.mkdir()
    monkeypatch.chdir(home)
    task = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--stride", "8", "--test-stride", "8"]
    code, _, err = _cli(capsys, "process", "train", *task, "--model", "bigru_attn", *FAST, "--out", "runs")
    assert code == 0, err
    (run,) = (home / "runs").iterdir()
    before = _predict(capsys, run, tep_csv, tmp_path / "before.json")
    code, shown_before, err = _cli(capsys, "process", "explain", run, "--fault", "1", "--out", tmp_path / "b.png")
    assert code == 0, err

    moved = _move(run, away)
    third.mkdir()
    monkeypatch.chdir(third)
    code, shown_after, err = _cli(capsys, "process", "explain", moved, "--fault", "1", "--out", tmp_path / "a.png")
    assert code == 0, err  # the Braatz test run ships with bibmon: explain needs nothing of the training data
    assert _shown(shown_after)[1:] == _shown(shown_before)[1:]

    def gone():
        raise FileNotFoundError("Tennessee Eastman data not found")

    monkeypatch.setattr(tep, "data_dir", gone)  # as if bibmon's data were deleted
    after = _predict(capsys, moved, tep_csv, tmp_path / "after.json")
    assert after == before and after["window_ends"][0] == 10
    code, out, err = _cli(capsys, "process", "explain", moved, "--csv", tep_csv, "--out", tmp_path / "csv.png")
    assert code == 0, err
    assert "51 windows (every 1 steps; named:" in out and "of their attention on the last quarter" in out
    assert (tmp_path / "csv.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_without_its_description_loads_the_old_way_or_says_what_is_missing(tmp_path, capsys):
    data = tmp_path / "batches"
    write_folder(data)
    flags = ["--path", data, "--time-column", "time", "--inputs", "a,b", "--target-column", "phase", "--window", "6"]
    code, _, err = _cli(capsys, "process", "train", "--task", "table", *flags, "--model", "gru", *FAST,
                        "--out", tmp_path / "runs")  # fmt: skip
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    csv = data / "b03.csv"
    new = tmp_path / "b03.csv"
    shutil.copy(csv, new)
    before = _predict(capsys, run, new, tmp_path / "before.json")
    (run / "data.json").unlink()  # a run written before runs held their description
    assert _predict(capsys, run, new, tmp_path / "old.json") == before  # rebuilt from the data, still there
    shutil.rmtree(data)
    code, _, err = _cli(capsys, "process", "predict", run, "--csv", new)
    assert code == 2 and err.count("\n") == 1
    assert "data.json is missing" in err and "no such file or folder" in err and str(data) in err


def test_a_damaged_description_is_named(tmp_path, capsys):
    data = tmp_path / "batches"
    write_folder(data)
    flags = ["--path", data, "--time-column", "time", "--inputs", "a,b", "--target-column", "phase"]
    code, _, err = _cli(capsys, "process", "train", "--task", "table", *flags, "--model", "gru", *FAST,
                        "--out", tmp_path / "runs")  # fmt: skip
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    spec = json.loads((run / "data.json").read_text())
    for change in ({"kind": "nonsense"}, {"feature_names": "a"}, {"task": "tep_faults"}, {"n_features": 7}):
        (run / "data.json").write_text(json.dumps({**spec, **change}))
        with pytest.raises(InputError, match=r"data\.json"):
            runner.load_trained(run)


def _shown(out: str) -> list[str]:
    """What a command printed, without the effective-config block it starts with (its --out differs)."""
    block = ("# effective config", "command: ")
    return [
        line for line in out.splitlines() if not line.startswith(block) and not line.endswith(("  # flag", "  # file"))
    ]
