"""What VectorIndex accepts and refuses at construction, add and search, beyond the cases of test_retrieval.py."""

import re

import numpy as np
import pytest

from heedful.rationale.retrieval.index import VectorIndex, normalise


def test_dimension_one_is_an_index_and_below_is_refused():
    index = VectorIndex(1)
    index.add(np.array([[2.0], [-1.0]]), ["pos", "neg"])
    assert [(h.sample_id, h.score) for h in index.search(np.array([[3.0]]), 2)[0]] == [("pos", 1.0), ("neg", -1.0)]
    for dim in (0, -1):
        with pytest.raises(ValueError, match=f"dimension must be >= 1, got {dim}"):
            VectorIndex(dim)


@pytest.mark.parametrize("shape", [(3,), (2, 3, 1)])
def test_vectors_must_be_a_matrix(shape):
    with pytest.raises(ValueError, match=re.escape(f"expected a (N, D) array of vectors, got shape {shape}")):
        normalise(np.ones(shape))


def test_wider_queries_and_vectors_are_refused_too():
    index = VectorIndex(3)
    index.add(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ValueError, match="queries have dimension 4, the index has 3"):
        index.search(np.ones((1, 4)), 1)
    with pytest.raises(ValueError, match="vectors to add have dimension 4, the index has 3"):
        index.add(np.ones((1, 4)), ["d"])


@pytest.mark.parametrize(
    ("n", "ids", "clips", "message"),
    [
        (3, ["a", "b"], None, "3 vectors, 2 ids and 2 clips"),
        (2, ["a", "b"], ["c", "c", "c"], "2 vectors, 2 ids and 3 clips"),
    ],
)
def test_add_refuses_more_vectors_or_clips_than_ids(n, ids, clips, message):
    index = VectorIndex(3)
    with pytest.raises(ValueError, match=message):
        index.add(np.eye(3)[:n], ids, clips)
    assert len(index) == 0


@pytest.mark.parametrize(
    ("n", "ids", "clips", "message"),
    [
        (1, ["a", "b"], None, "1 queries but 2 ids and 1 clips"),
        (1, None, ["c", "c"], "1 queries but 1 ids and 2 clips"),
        (1, ["a", "b"], ["c", "c"], "1 queries but 2 ids and 2 clips"),
        (2, ["a"], ["c"], "2 queries but 1 ids and 1 clips"),
        (2, ["a"], ["c", "c"], "2 queries but 1 ids and 2 clips"),
    ],
)
def test_search_refuses_query_ids_or_clips_that_do_not_pair_with_the_queries(n, ids, clips, message):
    index = VectorIndex(3)
    index.add(np.eye(3), ["a", "b", "c"])
    with pytest.raises(ValueError, match=message):
        index.search(np.ones((n, 3)), 1, ids, clips)


def test_sizes_beyond_pythons_small_int_cache(tmp_path):
    # sizes are compared by value: two equal ints above 256 are distinct objects (real encoders have 384 or 768 dims)
    g = np.random.default_rng(0)
    vectors = g.standard_normal((300, 384))
    vectors[1] = -vectors[0]  # the query below excludes its exact opposite, which is never fetched
    ids, clips = [f"s{i}" for i in range(300)], [f"c{i // 3}" for i in range(300)]
    index = VectorIndex(384)
    index.add(vectors, ids, clips)
    assert [len(row) for row in index.search(vectors, 2, ids, clips)] == [2] * 300
    row = index.search(vectors[:1], 260, ["s1"])[0]
    assert len(row) == 260 and row[0].sample_id == "s0" and "s1" not in {h.sample_id for h in row}
    index.save(tmp_path / "index.faiss")
    back = VectorIndex.load(tmp_path / "index.faiss")
    assert len(back) == 300 and back.dim == 384 and back.clips[-1] == "c99"
