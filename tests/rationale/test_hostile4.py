"""Hostile input, round 4 (a fresh hand sweep), rationale track: each case failed before its fix."""

import json

import pytest

from heedful.errors import InputError

from .conftest import inside_record, tiny_lm, tiny_tokenizer
from .test_hostile_input import fails, write

LONE = '"text": "\\ud800'  # JSON's escape for half of a surrogate pair: valid JSON, not Unicode text


def test_a_lone_surrogate_in_a_data_file_is_one_line(tmp_path, capsys):
    """Before: read, then a UnicodeEncodeError traceback when samples.json was written."""
    text = json.dumps([inside_record("t1")]).replace('"text": "', LONE, 1)
    argv = ["rationale", "data", "--data", write(tmp_path / "d.json", text), "--out", str(tmp_path)]
    line = fails(capsys, argv, "d.json", "[0].utterances[0].text", "lone surrogate \\ud800")
    assert line.count("d.json") == 1
    assert not list(tmp_path.glob("rationale-data-*"))


def test_a_lone_surrogate_in_predictions_is_one_line(tmp_path, capsys):
    data = write(tmp_path / "d.json", [inside_record("t1")])
    preds = write(tmp_path / "p.json", json.dumps([{"sample_id": "t1", "text": "\ud800"}]))
    fails(capsys, ["rationale", "evaluate", preds, "--data", data, "--out", str(tmp_path)], "[0].text", "surrogate")


def test_a_cache_dir_that_is_a_file_is_named(tmp_path, capsys):
    """Before: "[Errno 20] Not a directory: 'FILE/hash-16'"."""
    afile = tmp_path / "cache"
    afile.write_text("x")
    argv = ["rationale", "index", "--encoder", "hash:16", "--cache-dir", str(afile), "--out", str(tmp_path)]
    fails(capsys, argv, f"cache_dir {afile}: is a file")


def _train(tmp_path, max_train=4, **train):
    from heedful.rationale.data.config import DataConfig
    from heedful.rationale.graph.encoder import GraphConfig
    from heedful.rationale.lm.config import LMTrainConfig
    from heedful.rationale.lm.inject import InjectConfig
    from heedful.rationale.lm.model import RationaleLMConfig
    from heedful.rationale.lm.pipeline import train_pipeline
    from heedful.rationale.retrieval.keys import KeyConfig

    graph = GraphConfig(text_dim=16, hidden=16, heads=2, layers=1)
    model = RationaleLMConfig(
        lm="tiny", mode="xattn", graph=graph, encoder="hash:16", max_tokens=1500, inject=InjectConfig(n_latents=2)
    )
    cfg = LMTrainConfig(epochs=1, batch_size=2, grad_accum=1, max_dev=2, **train)
    features = KeyConfig(cache_dir=str(tmp_path / "cache"))
    return train_pipeline(
        DataConfig(), model, cfg, tmp_path / "run", features, max_train=max_train, progress=False, lm=tiny_lm(),
        tokenizer=tiny_tokenizer(),
    )  # fmt: skip


@pytest.mark.parametrize("max_train", [0, -3])
def test_max_train_below_one_is_refused(tmp_path, max_train):
    """Before: 0 was a numpy traceback, and -3 silently trained on all but the last three samples."""
    with pytest.raises(InputError, match="max_train must be an integer >= 1"):
        _train(tmp_path, max_train=max_train)


def test_a_diverging_lm_training_stops_with_one_line(tmp_path):
    """Before: NaN losses trained on, no epoch improved, and the end was "No such file ... best.safetensors"."""
    with pytest.raises(InputError, match="training diverged in epoch 1"):
        _train(tmp_path, lr=1e30)
    assert not (tmp_path / "run" / "best.safetensors").exists()


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_seeds_beyond_64_bits_are_refused_by_the_lm_configs(seed):
    """Before: torch.manual_seed's RuntimeError, deep in training or generation."""
    from heedful.rationale.lm.config import GenerateConfig, LMTrainConfig

    for cls in (LMTrainConfig, GenerateConfig):
        with pytest.raises(InputError, match="seed must be an integer of at most 64 bits"):
            cls(seed=seed)


def test_reserving_more_than_max_tokens_for_generation_says_so():
    from heedful.rationale import load_demo
    from heedful.rationale.lm.examples import encode

    with pytest.raises(InputError, match="once 1000000 are kept for generated tokens"):
        encode(tiny_tokenizer(), load_demo()[0], [], max_tokens=1500, reserve=10**6)


def test_a_graph_too_large_for_memory_is_refused_before_a_run_folder(tmp_path, capsys):
    """Before: torch's "can't allocate memory: you tried to allocate 400000000000000 bytes" traceback."""
    argv = ["rationale", "pretrain", "--epochs", "1", "--hidden", str(10**7), "--encoder", "hash:8"]
    fails(capsys, [*argv, "--out", str(tmp_path)], "graph hidden 10000000", "GB")
    assert not list(tmp_path.iterdir())
