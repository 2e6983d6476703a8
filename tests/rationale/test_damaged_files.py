"""Every file the rationale track (outside lm/) writes or reads back, truncated, emptied and filled with garbage:
each is refused with one line naming the file (exit code 2), or, for the feature cache, rebuilt."""

import json
import shutil

import numpy as np
import pytest
import torch

from heedful.cli import main
from heedful.rationale import load_demo

HASH = ["--encoder", "hash:16"]
DAMAGES = ("truncated", "emptied", "garbage")


def damage(path, how: str) -> None:
    data = path.read_bytes()
    garbage = bytes(range(256)) * 4  # not UTF-8, not JSON, no valid header of any format
    path.write_bytes({"truncated": data[: len(data) // 2], "emptied": b"", "garbage": garbage}[how])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("built")
    common = [*HASH, "--cache-dir", str(root / "cache"), "--out", str(root)]
    assert main(["rationale", "data", "--out", str(root)]) == 0
    assert main(["rationale", "index", *common]) == 0
    assert main(["rationale", "pretrain", "--epochs", "1", "--hidden", "16", *common]) == 0
    (index,) = root.glob("rationale-index-*")
    assert main(["rationale", "predict", "--index", str(index), "--out", str(root)]) == 0
    feats = root / "features"
    feats.mkdir()
    samples = load_demo()
    arrays = {s.sample_id: np.ones((len(s.utterances), 4), np.float32) for s in samples}
    torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, feats / "f.pt")
    np.savez(feats / "f.npz", **arrays)
    np.save(feats / "f.npy", np.concatenate(list(arrays.values())))
    (feats / "folder").mkdir()
    for k, v in arrays.items():
        np.save(feats / "folder" / f"{k}.npy", v)
    return root


def copy(built, tmp_path, pattern: str):
    (source,) = built.glob(pattern)
    return shutil.copytree(source, tmp_path / source.name)


def index_reader(folder, tmp_path):
    return ["rationale", "predict", "--index", str(folder), "--out", str(tmp_path / "out")]


def graph_reader(folder, tmp_path):
    argv = ["rationale", "index", "--key", "hchange", "--graph", str(folder), *HASH]
    return [*argv, "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]


def features_reader(path, tmp_path):
    return ["rationale", "index", "--split", "all", "--features", str(path), "--out", str(tmp_path / "out")]


# (run folder, file inside it, command that reads it)
ARTEFACTS = {
    "index.faiss": ("rationale-index-*", "index.faiss", index_reader),
    "index sidecar": ("rationale-index-*", "index.json", index_reader),
    "items.json": ("rationale-index-*", "items.json", index_reader),
    "graph.safetensors": ("rationale-pretrain-*", "graph.safetensors", graph_reader),
    "graph.json": ("rationale-pretrain-*", "graph.json", graph_reader),
    "precomputed .pt": ("features", "f.pt", lambda f, t: features_reader(f / "f.pt", t)),
    "precomputed .npz": ("features", "f.npz", lambda f, t: features_reader(f / "f.npz", t)),
    "precomputed .npy": ("features", "f.npy", lambda f, t: features_reader(f / "f.npy", t)),
    "precomputed folder .npy": ("features", "folder/demo_sample1.npy", lambda f, t: features_reader(f / "folder", t)),
    "predictions.json": (
        "rationale-predict-*",
        "predictions.json",
        lambda f, t: ["rationale", "evaluate", str(f / "predictions.json"), "--out", str(t / "out")],
    ),
    "samples.json (data)": (
        "rationale-data-*",
        "samples.json",
        lambda f, t: ["rationale", "index", "--data", str(f / "samples.json"), *HASH, "--out", str(t / "out")],
    ),
}


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("artefact", list(ARTEFACTS))
def test_damaged_file_is_refused_naming_it(built, tmp_path, capsys, artefact, how):
    pattern, name, reader = ARTEFACTS[artefact]
    folder = copy(built, tmp_path, pattern)
    damage(folder / name, how)
    capsys.readouterr()
    code = main(reader(folder, tmp_path))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("heedful: error: ") and str(folder / name) in err[0], err[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*/predictions.json"))


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_feature_cache_is_rebuilt(tmp_path, capsys, how):
    cache = tmp_path / "cache"
    argv = ["rationale", "index", *HASH, "--cache-dir", str(cache), "--out", str(tmp_path)]
    assert main(argv) == 0
    files = sorted((cache / "hash-16").glob("*.npy"))
    good = {f: f.read_bytes() for f in files}
    for f in files:
        damage(f, how)
    assert main(argv) == 0
    assert {f: f.read_bytes() for f in files} == good  # every file repaired, bit for bit


def strict_json(path):
    def refuse(constant):
        raise AssertionError(f"{path}: {constant} in an output file")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_output_files_are_strict_json_without_nan(built, tmp_path):
    """metrics.json (pretrain, evaluate) and every other JSON output: valid, and never NaN or Infinity."""
    (pred,) = built.glob("rationale-predict-*")
    assert main(["rationale", "evaluate", str(pred), "--out", str(tmp_path)]) == 0
    outputs = [*built.glob("rationale-*/*.json"), *tmp_path.glob("rationale-*/*.json")]
    assert {p.name for p in outputs} >= {"metrics.json", "config.json", "index.json", "items.json", "graph.json"}
    for path in outputs:
        strict_json(path)
