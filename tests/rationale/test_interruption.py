"""Interrupted work: the feature cache keeps what was finished, and half-written folders are refused by name."""

import numpy as np
import pytest

from heedful.cli import main
from heedful.rationale.features.encoders import HashEncoder, encode_groups


class StopAfter(HashEncoder):
    """A hash encoder that is interrupted (Ctrl-C) on its ``stop``-th call, counting the texts it encodes."""

    def __init__(self, stop: int | None = None):
        super().__init__(8)
        self.stop, self.calls, self.texts = stop, 0, []

    def encode(self, texts):
        self.calls += 1
        if self.calls == self.stop:
            raise KeyboardInterrupt
        self.texts += list(texts)
        return super().encode(texts)


def test_interrupted_encoding_keeps_finished_groups_and_resumes(tmp_path):
    groups = [[f"句子{g}-{i}" for i in range(3)] for g in range(10)]  # 30 distinct texts, 3 per group
    with pytest.raises(KeyboardInterrupt):
        encode_groups(groups, StopAfter(stop=3), tmp_path, batch_size=4, progress=False)
    saved = list((tmp_path / "hash-8").glob("*.npy"))
    assert len(saved) == 2  # 8 texts encoded before the interruption: groups 0 and 1 complete, each cached
    again = StopAfter()
    out = encode_groups(groups, again, tmp_path, batch_size=4, progress=False)
    assert len(again.texts) == 24  # only the 8 unfinished groups
    fresh = encode_groups(groups, HashEncoder(8), None, progress=False)
    for a, b in zip(out, fresh, strict=True):
        np.testing.assert_array_equal(a, b)


def test_encoder_returning_nan_is_refused_and_not_cached(tmp_path):
    class Broken(HashEncoder):
        def encode(self, texts):
            return np.full((len(texts), self.dim), np.nan, np.float32)

    with pytest.raises(ValueError, match="encoder hash-4 returned"):
        encode_groups([["a"]], Broken(4), tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.npy"))


def test_index_interrupted_before_its_sidecar_is_refused_by_name(tmp_path, capsys, monkeypatch):
    import heedful.rationale.retrieval.index as index_module

    def interrupted(path, obj):
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module, "write_json", interrupted)  # the sidecar is the last file written
    argv = ["rationale", "index", "--encoder", "hash:8", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path)]
    assert main(argv) == 130 and "heedful: interrupted" in capsys.readouterr().err
    monkeypatch.undo()
    (folder,) = tmp_path.glob("rationale-index-*")
    assert (folder / "index.faiss").is_file() and not list(folder.glob(".*.tmp"))  # no half-written file left
    assert main(["rationale", "predict", "--index", str(folder), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"heedful: error: retrieval: no index file {folder / 'index.json'}"]


def test_pretrain_interrupted_before_graph_json_is_refused_by_name(tmp_path, capsys, monkeypatch):
    import heedful.rationale.graph.contrastive as contrastive

    def interrupted(path, obj):
        raise KeyboardInterrupt

    monkeypatch.setattr(contrastive, "write_json", interrupted)  # graph.safetensors is written, graph.json is not
    common = ["--encoder", "hash:8", "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path)]
    assert main(["rationale", "pretrain", "--epochs", "1", "--hidden", "8", "--heads", "2", *common]) == 130
    monkeypatch.undo()
    (graph,) = tmp_path.glob("rationale-pretrain-*")
    capsys.readouterr()
    assert main(["rationale", "index", "--key", "hchange", "--graph", str(graph), *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(graph / "graph.json") in err[0]
