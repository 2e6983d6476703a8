"""Checks of benchmarks/keras_peer.py on a few synthetic windows: the Keras twin of ``bilstm_attn`` holds heedful's
parameters (but PyTorch's second LSTM bias), both Keras attention layers pool with weights that sum to one, and one
alternated epoch trains, times and reports both.

Keras is a benchmark-only dependency that CI does not install, so these checks live beside the benchmark instead of
under tests/ (where they were always skipped): ``pip install 'heedful[bench]'`` then
``pytest benchmarks/keras_peer_checks.py``; ``make bench`` runs them before the benchmark."""

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from heedful.process.data import Split, TaskData
from heedful.process.windows import Scaler

# find_spec, not importorskip: importing keras here would fix its backend before the script sets torch
if importlib.util.find_spec("keras") is None:
    pytest.skip("keras is not installed (pip install 'heedful[bench]')", allow_module_level=True)

SCRIPT = Path(__file__).with_name("keras_peer.py")


@pytest.fixture(scope="module")
def peer_module():
    spec = importlib.util.spec_from_file_location("keras_peer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toy_data(window=6, per_run=8):
    """Three runs (normal, fault 1, fault 2), every window after the onset, classes separable by channel 0's mean."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], per_run)
    x = (rng.normal(size=(len(y), window, 3)) + y[:, None, None] * np.array([2.0, 0, 0])).astype(np.float32)
    ends = np.tile(np.arange(window, window + per_run), 3)
    split = Split(x, y, np.repeat([0, 1, 2], per_run), ends)
    runs = [{"fault": f, "seed": f, "onset": 0 if f else None, "samples": 40, "shutdown": ""} for f in (0, 1, 2)]
    params = {"faults": [0, 1, 2], "window": window, "test_set": runs}
    names, features = ["normal", "fault 1", "fault 2"], ["a", "b", "c"]
    return TaskData("tep_sim_faults", "classification", split, split, split, names, features, Scaler(0, 1), params)


def test_keras_twin_has_heedfuls_parameters_but_one_lstm_bias(peer_module):
    hidden = 4
    ours, peer = peer_module.build_pair(_toy_data(), hidden, 1e-3, "heedful", seed=0)
    # nn.LSTM keeps b_ih and b_hh (4H each) per direction; Keras's LSTM one bias: 2 directions x 4H more in torch
    assert sum(p.numel() for p in ours.parameters()) - peer.count_params() == 2 * 4 * hidden


@pytest.mark.parametrize("name", ["heedful", "seed"])
def test_keras_attention_pools_with_weights_that_sum_to_one(peer_module, name):
    rng = np.random.default_rng(1)
    step = rng.normal(size=(5, 1, 8)).astype(np.float32)
    h = np.repeat(step, 7, axis=1)  # every step the same: any convex combination returns that step
    import keras  # loaded with the torch backend by peer_module

    out = keras.ops.convert_to_numpy(peer_module.POOLINGS[name]()(h))  # a torch tensor that requires grad there
    np.testing.assert_allclose(out, step[:, 0], rtol=1e-5, atol=1e-6)


def test_one_alternated_epoch_trains_times_and_reports_both(peer_module, capsys):
    data = _toy_data()
    ours, peer = peer_module.build_pair(data, 4, 1e-2, "seed", seed=0)
    seconds = peer_module.train_both(data, ours, peer, epochs=1, batch_size=8, lr=1e-2, seed=0)
    assert {k: len(v) for k, v in seconds.items()} == {"heedful": 1, "keras": 1}
    args = argparse.Namespace(
        train_runs=1, val_runs=1, test_runs=1, hidden=4, batch_size=8, lr=1e-2, epochs=1, keras_attention="seed"
    )
    peer_module.report(data, ours, peer, seconds, args)
    out = capsys.readouterr().out
    assert "| heedful `bilstm_attn` |" in out and "| Keras 3, seed attention |" in out
    assert "ratio heedful / Keras, s/epoch" in out and "(torch backend)" in out
