"""Hostile input: each case ends in the one-line error with exit code 2 (or, for caches, a rebuild),
never a traceback. Each test failed before its fix."""

import json
import math
import shutil

import numpy as np
import pytest
import torch

from heedful.cli import main
from heedful.errors import InputError
from heedful.rationale import load_demo, sample_to_dict

from .conftest import inside_record

HASH = ["--encoder", "hash:16"]


def fails(capsys, argv, *fragments) -> str:
    """Run the CLI; assert exit code 2 and one line on stderr holding every fragment."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("heedful: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """An index of the demo train split (hash:16), a knn predictions file and a pretrained graph, built once."""
    root = tmp_path_factory.mktemp("built")
    common = [*HASH, "--cache-dir", str(root / "cache"), "--out", str(root)]
    assert main(["rationale", "index", *common]) == 0
    assert main(["rationale", "pretrain", "--epochs", "1", "--hidden", "16", *common]) == 0
    (index,) = root.glob("rationale-index-*")
    (graph,) = root.glob("rationale-pretrain-*")
    assert main(["rationale", "predict", "--index", str(index), "--out", str(root)]) == 0
    (pred,) = root.glob("rationale-predict-*")
    return {"root": root, "index": index, "graph": graph, "predictions": pred / "predictions.json"}


@pytest.fixture
def index(built, tmp_path):
    """A fresh copy of the built index folder, free to damage."""
    return shutil.copytree(built["index"], tmp_path / "index")


def predict(index, tmp_path):
    return ["rationale", "predict", "--index", str(index), "--out", str(tmp_path)]


# data files


def nested_emotion_record():
    rec = inside_record("n1")
    rec["utterances"][1]["emotion"] = [["Anger"]]
    return rec


def test_nested_list_as_an_emotion_in_index(tmp_path, capsys):
    data = write(tmp_path / "d.json", [nested_emotion_record()])
    argv = ["rationale", "index", "--data", data, "--split", "all", *HASH, "--out", str(tmp_path)]
    fails(capsys, argv, "sample n1: utterances[1].emotion: each emotion must be a string")


def test_nested_list_as_an_emotion_in_evaluate_data(built, tmp_path, capsys):
    data = write(tmp_path / "d.json", [nested_emotion_record()])
    argv = ["rationale", "evaluate", str(built["predictions"]), "--data", data, "--out", str(tmp_path)]
    fails(capsys, argv, "sample n1", "each emotion must be a string")


def test_deeply_nested_json_document(tmp_path, capsys):
    data = write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)
    argv = ["rationale", "index", "--data", data, *HASH, "--out", str(tmp_path)]
    fails(capsys, argv, str(tmp_path / "deep.json"), "nested too deeply")


def test_non_finite_and_oversized_times_are_refused(tmp_path, capsys):
    for value in ("NaN", "Infinity", "1" + "0" * 400):
        text = json.dumps([inside_record("t1")]).replace('"start_sec": 0.0', f'"start_sec": {value}')
        data = write(tmp_path / "t.json", text)
        argv = ["rationale", "data", "--data", data, "--out", str(tmp_path)]
        fails(capsys, argv, "sample t1: field utterances[0].start_sec must be a finite number")


def test_sample_ids_must_be_printable_strings_or_integers(tmp_path, capsys):
    for bad in (["x"], {"a": 1}, "two\nlines", True):
        data = write(tmp_path / "ids.json", [inside_record(bad)])
        fails(capsys, ["rationale", "data", "--data", data, "--out", str(tmp_path)], "sample #0: field sample_id")


# predictions


def test_list_as_a_prediction_sample_id(built, tmp_path, capsys):
    preds = json.loads(built["predictions"].read_text())
    preds[0]["sample_id"] = [preds[0]["sample_id"]]
    path = write(tmp_path / "p.json", preds)
    fails(capsys, ["rationale", "evaluate", path, "--out", str(tmp_path)], "prediction #0: needs a sample_id")


def test_duplicate_prediction_ids_are_refused_naming_the_id(built, tmp_path, capsys):
    preds = json.loads(built["predictions"].read_text())
    path = write(tmp_path / "p.json", [*preds, preds[0]])
    sid = preds[0]["sample_id"]
    fails(capsys, ["rationale", "evaluate", path, "--out", str(tmp_path)], f"sample {sid}: duplicate prediction")
    assert not list(tmp_path.glob("rationale-evaluate-*"))  # no run folder for a refused input


@pytest.mark.parametrize("kind", ["missing", "file", "empty folder"])
def test_bertscore_model_that_is_not_a_model_folder(built, tmp_path, capsys, kind):
    model = tmp_path / "model"
    if kind == "file":
        model.write_text("not a model")
    elif kind == "empty folder":
        model.mkdir()
    argv = ["rationale", "evaluate", str(built["predictions"]), "--bertscore-model", str(model)]
    fails(capsys, [*argv, "--out", str(tmp_path)], "bertscore:", str(model))


# index folders


@pytest.mark.parametrize("damage", ["truncated", "emptied", "garbage"])
def test_damaged_index_faiss(index, tmp_path, capsys, damage):
    path = index / "index.faiss"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "emptied": b"", "garbage": b"\x07" * 300}[damage])
    fails(capsys, predict(index, tmp_path), str(path))


def test_legacy_sidecar_with_a_damaged_index_faiss(index, tmp_path, capsys):
    """Without a checksum (sidecar version 1) FAISS reads the file: its RuntimeError becomes the one line."""
    sidecar = json.loads((index / "index.json").read_text())
    del sidecar["checksum"]
    write(index / "index.json", sidecar)
    path = index / "index.faiss"
    path.write_bytes(path.read_bytes()[:100])
    fails(capsys, predict(index, tmp_path), str(path), "damaged FAISS index")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["meta"].pop("key"), "meta.key is missing"),
        (lambda s: s["meta"].__setitem__("key", ["text"]), "meta.key is missing or malformed"),
        (lambda s: s["meta"]["key"].__setitem__("key", "bogus"), "meta.key: key must be one of text, hchange"),
        (lambda s: s["ids"].__setitem__(1, s["ids"][0]), "duplicate id"),
        (lambda s: s["ids"].reverse(), "checksum differs"),
        (lambda s: s["ids"].pop(), "clips must be a list of"),
    ],
    ids=["no meta.key", "meta.key a list", "meta.key.key unknown", "duplicate ids", "reordered ids", "one id short"],
)
def test_edited_sidecar_is_refused(index, tmp_path, capsys, edit, message):
    sidecar = json.loads((index / "index.json").read_text())
    edit(sidecar)
    write(index / "index.json", sidecar)
    fails(capsys, predict(index, tmp_path), "index.json", message)


def test_sidecar_that_is_a_json_list(index, tmp_path, capsys):
    write(index / "index.json", [1, 2, 3])
    fails(capsys, predict(index, tmp_path), "index.json: expected a JSON object")


def test_items_json_missing_an_id(index, tmp_path, capsys):
    items = json.loads((index / "items.json").read_text())
    gone = next(iter(items))
    del items[gone]
    write(index / "items.json", items)
    fails(capsys, predict(index, tmp_path), "items.json: sample", gone, "missing")


def test_index_checks_its_encoder_against_what_it_saved(index, tmp_path, capsys):
    sidecar = json.loads((index / "index.json").read_text())
    sidecar["meta"]["key"]["encoder"] = "hash:32"  # meta is not covered by the checksum: the source check catches it
    write(index / "index.json", sidecar)
    fails(capsys, predict(index, tmp_path), "built from text:hash-16", "now gives text:hash-32", "rebuild")


def test_legacy_index_checks_its_dimension(index, tmp_path, capsys):
    sidecar = json.loads((index / "index.json").read_text())
    for name in ("checksum",):
        del sidecar[name]
    del sidecar["meta"]["source"]
    sidecar["meta"]["key"]["encoder"] = "hash:32"
    write(index / "index.json", sidecar)
    fails(capsys, predict(index, tmp_path), "the index holds 32-d vectors", "64-d", "rebuild")


def test_k_beyond_the_index_reports_what_came_back(built, tmp_path, capsys):
    argv = ["rationale", "retrieve", "--index", str(built["index"]), "-k", "1000", "--out", str(tmp_path)]
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    (run,) = tmp_path.glob("rationale-retrieve-*")
    sizes = {len(r["neighbours"]) for r in json.loads((run / "retrievals.json").read_text())}
    assert "retrieved 1000 neighbours" not in out and "asked for 1000" in out
    assert max(sizes) < 1000 and f"{max(sizes)} neighbours" in out


# precomputed features and the feature cache


def test_planted_pickle_as_a_pt_features_file(tmp_path, capsys):
    class Planted:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"demo_01": Planted()}, path)
    argv = ["rationale", "index", "--features", str(path), "--out", str(tmp_path)]
    fails(capsys, argv, str(path), "not a readable feature file")
    assert "this must never run" not in capsys.readouterr().out


def test_truncated_pt_features_file(tmp_path, capsys):
    samples = load_demo()
    path = tmp_path / "f.pt"
    torch.save({s.sample_id: torch.ones(len(s.utterances), 4) for s in samples}, path)
    path.write_bytes(path.read_bytes()[:-200])
    fails(capsys, ["rationale", "index", "--features", str(path), "--out", str(tmp_path)], str(path))


def test_nan_in_precomputed_features_is_refused(tmp_path, capsys):
    samples = load_demo()
    arrays = {s.sample_id: np.ones((len(s.utterances), 4), np.float32) for s in samples}
    arrays[samples[0].sample_id][0, 0] = np.nan
    np.savez(tmp_path / "f.npz", **arrays)
    argv = ["rationale", "index", "--features", str(tmp_path / "f.npz"), "--out", str(tmp_path)]
    fails(capsys, argv, f"sample {samples[0].sample_id}", "NaN or inf")


@pytest.mark.parametrize("damage", ["emptied", "truncated", "garbage", "nan"])
def test_damaged_feature_cache_rebuilds_itself(tmp_path, capsys, damage):
    cache = tmp_path / "cache"
    argv = ["rationale", "index", *HASH, "--cache-dir", str(cache), "--out", str(tmp_path)]
    assert main(argv) == 0
    files = sorted((cache / "hash-16").glob("*.npy"))
    good = {f: f.read_bytes() for f in files}
    for f in files[:3]:
        data = f.read_bytes()
        if damage == "nan":
            np.save(f, np.full(np.load(f).shape, np.nan, np.float32))
        else:
            f.write_bytes({"emptied": b"", "truncated": data[: len(data) // 2], "garbage": b"\x93NUMPY junk"}[damage])
    assert main(argv) == 0
    assert {f: f.read_bytes() for f in files} == good  # repaired, bit for bit


# graph checkpoints


def test_truncated_graph_safetensors(built, tmp_path, capsys):
    graph = shutil.copytree(built["graph"], tmp_path / "graph")
    weights = graph / "graph.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    argv = ["rationale", "index", "--key", "hchange", "--graph", str(graph), *HASH, "--out", str(tmp_path)]
    fails(capsys, argv, str(weights), "damaged checkpoint")


@pytest.mark.parametrize(
    "edit",
    [{"hidden": 32}, {"max_speakers": 10**9}, {"visual_dim": 10**9}, {"layers": 10**6}, {"text_dim": 10**9}],
    ids=["hidden", "max_speakers", "visual_dim", "layers", "text_dim"],
)
def test_graph_json_whose_sizes_disagree_with_the_weights(built, tmp_path, capsys, edit):
    """Refused before the model is built: a huge size in graph.json never allocates a huge model."""
    graph = shutil.copytree(built["graph"], tmp_path / "graph")
    meta = json.loads((graph / "graph.json").read_text())
    meta["graph"] |= edit
    write(graph / "graph.json", meta)
    argv = ["rationale", "index", "--key", "hchange", "--graph", str(graph), *HASH, "--out", str(tmp_path)]
    fails(capsys, argv, "graph.safetensors", "graph.json says")


def test_non_finite_numbers_are_refused_by_flags_and_configs(tmp_path, capsys):
    from heedful.rationale.graph.config import ContrastiveConfig

    with pytest.raises(SystemExit) as exit_:
        main(["rationale", "pretrain", "--temperature", "nan", *HASH, "--out", str(tmp_path)])
    assert exit_.value.code == 2 and "expected a finite number" in capsys.readouterr().err
    for field in ("temperature", "lr", "weight_decay"):
        for value in (math.nan, math.inf):
            with pytest.raises(InputError, match=f"{field} must be a finite number"):
                ContrastiveConfig(**{field: value})
    assert not list(tmp_path.iterdir())


def test_pretrain_on_data_without_rationales(tmp_path, capsys):
    records = [sample_to_dict(s) for s in load_demo()]
    for rec in records:
        del rec["rationale"]
    data = write(tmp_path / "d.json", records)
    argv = ["rationale", "pretrain", "--data", data, *HASH, "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path)]
    fails(capsys, argv, "needs at least 2 samples with a rationale, got 0")


def test_inside_records_round_trip_through_the_data_command(tmp_path, capsys):
    samples = load_demo()
    data = write(tmp_path / "d.json", [sample_to_dict(s) for s in samples])
    assert main(["rationale", "data", "--data", data, "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.glob("rationale-data-*")
    assert json.loads((run / "samples.json").read_text()) == [sample_to_dict(s) for s in samples]
    assert json.loads((run / "summary.json").read_text())["samples"] == len(samples)
