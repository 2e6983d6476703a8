"""The vector cache in front of an encoder: the encoder's own vectors, each text encoded once while kept, bounded."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heedful.errors import InputError
from heedful.rationale.features.encoders import HashEncoder
from heedful.rationale.features.memo import MemoEncoder


class Counting(HashEncoder):
    def __init__(self, dim: int = 16):
        super().__init__(dim)
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += texts
        return super().encode(texts)


def test_returns_the_encoders_vectors_and_encodes_each_text_once():
    inner = Counting()
    memo = MemoEncoder(inner, max_texts=10)
    assert (memo.name, memo.dim) == (inner.name, inner.dim)
    first = memo.encode(["a", "b", "a"])
    np.testing.assert_array_equal(first, HashEncoder(16).encode(["a", "b", "a"]))
    again = memo.encode(["b", "c", "a"])
    np.testing.assert_array_equal(again, HashEncoder(16).encode(["b", "c", "a"]))
    assert inner.seen == ["a", "b", "c"]  # the repeat inside a call and across calls: not encoded again
    assert (memo.hits, memo.misses) == (2, 3)
    assert memo.encode([]).shape == (0, 16)


def test_is_bounded_and_forgets_the_least_recently_used():
    inner = Counting()
    memo = MemoEncoder(inner, max_texts=2)
    memo.encode(["a"])
    memo.encode(["b"])
    memo.encode(["a"])  # a is now the most recent
    memo.encode(["c"])  # b goes
    assert len(memo) == 2
    inner.seen.clear()
    memo.encode(["a", "b", "c"])
    assert inner.seen == ["b"]


def test_a_returned_array_can_be_changed_without_changing_the_cache():
    memo = MemoEncoder(HashEncoder(8))
    out = memo.encode(["x"])
    out[:] = 0
    np.testing.assert_array_equal(memo.encode(["x"]), HashEncoder(8).encode(["x"]))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_refuses_a_bad_size(bad):
    with pytest.raises(InputError, match="max_texts >= 1"):
        MemoEncoder(HashEncoder(8), max_texts=bad)


def test_refuses_an_encoder_that_returns_the_wrong_shape():
    class Broken(HashEncoder):
        def encode(self, texts):
            return np.zeros((len(texts) + 1, self.dim), np.float32)

    with pytest.raises(InputError, match="returned shape"):
        MemoEncoder(Broken(8)).encode(["a"])


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "猫", ""]), max_size=6), max_size=8),
    size=st.integers(1, 4),
)
def test_any_sequence_of_calls_gives_the_encoders_vectors(calls, size):
    inner = HashEncoder(8)
    memo = MemoEncoder(inner, max_texts=size)
    for texts in calls:
        np.testing.assert_array_equal(memo.encode(texts), inner.encode(texts))
        assert len(memo) <= size
