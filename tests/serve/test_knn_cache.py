"""The knn service keeps utterance vectors: the answers stay those of the library, repeats are not encoded again,
and ``HEEDFUL_VECTOR_CACHE`` sizes it (0: off; anything but a count is refused in one line)."""

import pytest

from heedful.errors import InputError
from heedful.rationale.features.memo import MemoEncoder
from heedful.serve.models import VECTOR_CACHE_ENV, KnnModel


def test_cached_answers_equal_the_library_and_uncached_ones(knn_index, demo_split, monkeypatch):
    from heedful.rationale.retrieval.store import predict_knn

    dev = demo_split[1]
    cached = KnnModel(knn_index)
    assert isinstance(cached.encoder, MemoEncoder)
    first = cached.predict(dev)
    misses = cached.encoder.misses
    again = cached.predict(dev)
    assert cached.encoder.misses == misses and cached.encoder.hits >= sum(len(s.utterances) for s in dev)
    monkeypatch.setenv(VECTOR_CACHE_ENV, "0")
    plain = KnnModel(knn_index)
    assert not isinstance(plain.encoder, MemoEncoder)
    library = predict_knn(knn_index, dev, 1, True, exclude_clip=False)
    for a, b, c, lib in zip(first, again, plain.predict(dev), library, strict=True):
        assert a == b == c
        assert (a["text"], a["neighbours"]) == (lib["text"], lib["neighbours"])


@pytest.mark.parametrize("value", ["-1", "ten", "1e3", "2.5"])
def test_a_bad_cache_size_is_refused(knn_index, monkeypatch, value):
    monkeypatch.setenv(VECTOR_CACHE_ENV, value)
    with pytest.raises(InputError, match=f"{VECTOR_CACHE_ENV} must be a number of texts"):
        KnnModel(knn_index)


def test_the_cache_size_is_taken_from_the_environment(knn_index, monkeypatch):
    monkeypatch.setenv(VECTOR_CACHE_ENV, "7")
    model = KnnModel(knn_index)
    assert model.encoder.max_texts == 7
