"""A rationale LM run moved elsewhere, with its index beside it or inside it, predicts the same from a third working
directory; an index that is gone is one line naming where it was looked for."""

import json
import os
import shutil

import pytest

from .test_lm_cli import cli, lm_dir  # noqa: F401  (a tiny random LM folder, once per module)

ENCODER = ["--encoder", "hash:16"]
TRAIN = ["--mode", "both", "--max-train", "4", "--epochs", "1", "--batch-size", "2", "--max-dev", "2"]


def _predict(capsys, model, out) -> list[str]:
    args = ["rationale", "predict", "--method", "lm", "--model", str(model), "--limit", "2", "--max-new-tokens", "6"]
    code, _, err = cli(capsys, *args, "--out", str(out))
    assert code == 0, err
    (folder,) = out.glob("rationale-predict-*")
    return [p["text"] for p in json.loads((folder / "predictions.json").read_text())]


@pytest.fixture()
def chdir(tmp_path):
    cwd = os.getcwd()
    yield os.chdir
    os.chdir(cwd)


def test_run_and_index_moved_together_predict_the_same(tmp_path, capsys, lm_dir, chdir):  # noqa: F811
    home, away, third = tmp_path / "home", tmp_path / "away", tmp_path / "third"
    cache = ["--cache-dir", str(tmp_path / "cache")]
    code, _, err = cli(capsys, "rationale", "index", "--split", "train", "--out", str(home / "idx"), *ENCODER, *cache)
    assert code == 0, err
    (index,) = (home / "idx").glob("rationale-index-*")
    code, _, err = cli(capsys, "rationale", "train", "--lm", str(lm_dir), *TRAIN, "--max-tokens", "1500",
                       "--index", str(index), "--out", str(home / "runs"), *ENCODER, *cache)  # fmt: skip
    assert code == 0, err
    (run,) = (home / "runs").glob("rationale-train-*")
    saved = json.loads((run / "config.json").read_text())
    assert saved["index"] == str(index.resolve()) and saved["index_from_run"].startswith("../../idx/")
    before = _predict(capsys, run, tmp_path / "p1")

    shutil.move(str(home), str(away))  # the run and its index, together
    third.mkdir()
    chdir(third)
    moved = away / "runs" / run.name
    assert _predict(capsys, moved, tmp_path / "p2") == before
    shutil.rmtree(away / "idx")
    code, _, err = cli(capsys, "rationale", "predict", "--method", "lm", "--model", str(moved), "--limit", "1")
    last = err.strip().splitlines()[-1]  # after the LM's loading bar
    assert code == 2 and "index folder is missing" in last and str(index) in last


def test_run_with_its_own_index_moved_alone_predicts_the_same(tmp_path, capsys, lm_dir, chdir):  # noqa: F811
    code, _, err = cli(capsys, "rationale", "train", "--lm", str(lm_dir), *TRAIN, "--max-tokens", "1500",
                       "--out", str(tmp_path / "runs"), *ENCODER, "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
    assert code == 0, err
    (run,) = (tmp_path / "runs").glob("rationale-train-*")
    assert json.loads((run / "config.json").read_text())["index"] == "index"
    before = _predict(capsys, run, tmp_path / "p1")
    moved = shutil.move(str(run), str(tmp_path / "elsewhere"))
    shutil.rmtree(tmp_path / "cache")  # the encoder's feature cache of training is not needed either
    (tmp_path / "third").mkdir()
    chdir(tmp_path / "third")
    assert _predict(capsys, moved, tmp_path / "p2") == before
