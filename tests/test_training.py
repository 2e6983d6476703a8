"""What both training loops share: the early-stopping rule, a checked, backward-readable restore, and the
epoch/checkpoint helper that a resumed loop continues with."""

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heedful.checkpoint import load_tensors
from heedful.errors import InputError
from heedful.training import Checkpoints, LoopState, close_epoch


def run(values, higher, epochs=10, patience=2):
    state = LoopState()
    while not state.done(epochs, patience):
        value = values[state.epoch]
        state.end_epoch(value, {"epoch": state.epoch + 1, "v": value}, higher)
    return state


def test_early_stopping_on_a_score():
    state = run([0.5, 0.7, 0.6, 0.65, 0.9], higher=True)
    assert (state.epoch, state.best, state.best_epoch, state.stale) == (4, 0.7, 2, 2)
    assert [r["v"] for r in state.history] == [0.5, 0.7, 0.6, 0.65]


def test_early_stopping_on_a_loss_and_nan():
    state = run([3.0, float("nan"), 2.5, 2.6, 2.4, 2.7, 2.8], higher=False, epochs=7, patience=3)
    assert (state.best, state.best_epoch) == (2.4, 5)
    assert state.epoch == 7 and state.stale == 2  # epochs ran out first


def test_first_epoch_is_best_even_when_bad():
    state = LoopState()
    assert state.end_epoch(-1e9, {}, higher_is_better=True)
    assert state.best == -1e9 and state.batch == 0


def test_restore_reads_both_old_layouts():
    process = {"epoch": 3, "best_val": 0.8, "best_epoch": 2, "stale": 1, "seconds": 4.5, "history": [{}] * 3}
    assert LoopState.restore(process).best == 0.8 and LoopState.restore(process).stale == 1
    lm = {"epoch": 1, "batch": 7, "step": 3, "best_dev": float("inf"), "bad_epochs": 0, "history": [], "tokens": 9}
    state = LoopState.restore(lm)
    assert (state.best, state.batch, state.step, state.tokens) == (None, 7, 3, 9)
    assert LoopState.restore({"best_val": -float("inf")}).best is None
    assert LoopState.restore(LoopState(epoch=2, best=1.5).to_dict()) == LoopState(epoch=2, best=1.5)


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        ({"epoch": "one"}, "epoch must be a count"),
        ({"stale": -1}, "stale must be a count"),
        ({"step": True}, "step must be a count"),
        ({"best_val": "x"}, "best must be a number"),
        ({"seconds": float("nan")}, "seconds must be a number"),
        ({"history": "abc"}, "history must be a list"),
        ({"history": [1, 2]}, "history must be a list"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_restore_refuses_edited_values(saved, message):
    with pytest.raises(InputError, match=message):
        LoopState.restore(saved, "RUN/state.json")


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.dictionaries(st.text(max_size=3), st.integers()), max_size=3),
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded machine
@given(
    st.dictionaries(
        st.sampled_from(
            ["epoch", "batch", "best", "best_val", "best_dev", "stale", "bad_epochs", "seconds", "history", "other"]
        ),
        values,
    )
)
def test_restore_never_crashes(saved):
    try:
        state = LoopState.restore(saved)
    except InputError as err:
        assert "\n" not in str(err)
    else:
        assert state.epoch >= 0 and state.stale >= 0 and isinstance(state.history, list)
        assert state.best is None or state.best == state.best


def test_remaining_stops_early_and_a_stopped_run_stays_stopped():
    state, seen = LoopState(), []
    for epoch in state.remaining(epochs=9, patience=2):
        seen.append(epoch)
        state.end_epoch(1.0 if epoch == 0 else 0.5, {}, higher_is_better=True)
    assert seen == [0, 1, 2] and state.stale == 2
    assert list(LoopState.restore(state.to_dict()).remaining(9, 2)) == []


def _loop(folder, epochs: int, stop_after: int | None = None) -> tuple[LoopState, torch.nn.Module]:
    """A tiny loop written as both trainers write theirs; ``stop_after``: an interrupt after that many epochs."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    checkpoints = Checkpoints(folder, model, opt)
    state = checkpoints.resume(restore_rng=False)
    x, y = torch.randn(16, 3, generator=torch.Generator().manual_seed(1)), torch.ones(16, 1)
    for epoch in state.remaining(epochs, patience=3):
        if epoch == stop_after:
            raise KeyboardInterrupt
        loss = (model(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        state.step += 1
        record = {"epoch": epoch + 1, "loss": loss.item(), "weight": model.weight.tolist()}
        close_epoch(state, [3.0, 1.0, 2.0, 2.5][epoch], record, False, checkpoints)  # epoch 2 is the best
    return state, model


def test_a_loop_resumed_from_its_checkpoint_ends_as_an_uninterrupted_one(tmp_path):
    whole, model = _loop(tmp_path / "whole", epochs=4)
    with pytest.raises(KeyboardInterrupt):
        _loop(tmp_path / "cut", epochs=4, stop_after=2)
    saved = json.loads((tmp_path / "cut" / "state.json").read_text())
    assert (saved["epoch"], saved["step"], len(saved["history"])) == (2, 2, 2)
    resumed, again = _loop(tmp_path / "cut", epochs=4)
    assert resumed == whole and whole.step == 4
    assert torch.equal(model.weight, again.weight)
    assert (whole.best, whole.best_epoch, whole.stale) == (1.0, 2, 2)
    best = load_tensors(Checkpoints(tmp_path / "whole", model, None).best)  # the best epoch's weights
    assert best["weight"].tolist() == whole.history[1]["weight"] != whole.history[3]["weight"]


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda s: "{not json", "state.json"),
        (lambda s: json.dumps({**json.loads(s), "epoch": -1}), "epoch must be a count"),
        (lambda s: json.dumps({**json.loads(s), "dir": "../elsewhere"}), "is not a step folder"),
        (lambda s: json.dumps({**json.loads(s), "best": None}), "best must be a number"),
    ],
)
def test_a_damaged_state_file_is_one_line_naming_it(tmp_path, edit, needle):
    _loop(tmp_path, epochs=2)
    path = tmp_path / "state.json"
    path.write_text(edit(path.read_text()))
    with pytest.raises(InputError, match=needle) as err:
        _loop(tmp_path, epochs=4)
    assert "\n" not in str(err.value) and "state.json" in str(err.value)
