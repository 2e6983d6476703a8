"""The state both training loops share: the early-stopping rule and a checked, backward-readable restore."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heedful.errors import InputError
from heedful.training import LoopState


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
