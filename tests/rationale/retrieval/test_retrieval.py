import json

import numpy as np
import pytest

from heedful.rationale.retrieval.index import VectorIndex, normalise


def brute_force(store, queries, k, excluded):
    s = store / np.linalg.norm(store, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sim = q @ s.T
    out = []
    for i, row in enumerate(sim):
        order = [j for j in np.argsort(-row, kind="stable") if j not in excluded[i]]
        out.append(order[:k])
    return out, sim


@pytest.fixture
def store():
    g = np.random.default_rng(0)
    vectors = g.standard_normal((40, 12)).astype(np.float64)  # float64 on purpose: the index converts
    ids = [f"s{i}" for i in range(40)]
    clips = [f"c{i // 4}" for i in range(40)]
    index = VectorIndex(12)
    index.add(vectors, ids, clips)
    return index, vectors, ids, clips


def test_top_k_matches_brute_force_with_self_and_clip_excluded(store):
    index, vectors, ids, clips = store
    queries = vectors[::5] + 0.01  # training-time queries: stored samples themselves
    qids, qclips = ids[::5], clips[::5]
    hits = index.search(queries, 6, qids, qclips)
    excluded = [{j for j in range(40) if clips[j] == c} for c in qclips]
    expected, sim = brute_force(vectors, queries, 6, excluded)
    for row, exp, i in zip(hits, expected, range(len(hits)), strict=True):
        assert [h.row for h in row] == exp
        assert all(h.clip_id != qclips[i] and h.sample_id != qids[i] for h in row)
        np.testing.assert_allclose([h.score for h in row], sim[i, exp], rtol=1e-5, atol=1e-5)


def test_self_only_exclusion_keeps_the_clip(store):
    index, vectors, ids, _ = store
    hits = index.search(vectors[:3], 5, query_ids=ids[:3])
    expected, _ = brute_force(vectors, vectors[:3], 5, [{0}, {1}, {2}])
    assert [[h.row for h in row] for row in hits] == expected


def test_k_larger_than_the_store_never_returns_minus_one(store):
    index, vectors, ids, clips = store
    hits = index.search(vectors[:2], 100, ids[:2], clips[:2])
    assert [len(row) for row in hits] == [36, 36]  # 40 minus the 4 samples of the query's clip
    assert all(h.row >= 0 for row in hits for h in row)
    small = VectorIndex(3)
    small.add(np.eye(3), ["a", "b", "c"])
    row = small.search(np.eye(3)[:1], 10)[0]
    assert row[0].sample_id == "a" and {h.sample_id for h in row} == {"a", "b", "c"}
    assert VectorIndex(3).search(np.eye(3), 2) == [[], [], []]


def test_dimension_mismatch_and_bad_input_are_clear_errors(store):
    index, *_ = store
    with pytest.raises(ValueError, match="queries have dimension 5, the index has 12"):
        index.search(np.ones((1, 5)), 3)
    with pytest.raises(ValueError, match="vectors to add have dimension 3, the index has 12"):
        index.add(np.ones((1, 3)), ["x"])
    with pytest.raises(ValueError, match="sample s1: duplicate"):
        index.add(np.ones((1, 12)), ["s1"])
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((1, 12), np.nan), 3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.search(np.ones((1, 12)), 0)


def test_save_and_load_round_trip(store, tmp_path):
    index, vectors, ids, clips = store
    index.meta = {"key": "text"}
    index.save(tmp_path / "index.faiss")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.faiss", "index.json"]  # no temp files left
    back = VectorIndex.load(tmp_path)
    assert back.ids == ids and back.clips == clips and back.meta == {"key": "text"} and back.dim == 12
    a = index.search(vectors[:4], 5, ids[:4], clips[:4])
    b = back.search(vectors[:4], 5, ids[:4], clips[:4])
    assert [[h.sample_id for h in r] for r in a] == [[h.sample_id for h in r] for r in b]
    with pytest.raises(FileNotFoundError):
        VectorIndex.load(tmp_path / "missing.faiss")


def test_zero_queries_and_k_of_one(store):
    index, vectors, ids, clips = store
    assert index.search(np.zeros((0, 12)), 3) == []
    hits = index.search(vectors[:5] + 0.01, 1, ids[:5], clips[:5])
    excluded = [{j for j in range(40) if clips[j] == c} for c in clips[:5]]
    expected, _ = brute_force(vectors, vectors[:5] + 0.01, 1, excluded)
    assert [[h.row for h in row] for row in hits] == expected and all(len(row) == 1 for row in hits)


def test_zero_norm_vectors_score_zero_never_nan():
    index = VectorIndex(3)
    index.add(np.array([[0.0, 0, 0], [1.0, 0, 0]]), ["zero", "x"])
    row = index.search(np.array([[0.0, 0, 0]]), 2)[0]
    assert [h.score for h in row] == [0.0, 0.0]
    row = index.search(np.array([[2.0, 0, 0]]), 2)[0]
    assert [(h.sample_id, h.score) for h in row] == [("x", pytest.approx(1.0)), ("zero", 0.0)]
    np.testing.assert_array_equal(normalise(np.zeros((2, 3))), np.zeros((2, 3)))


def test_add_refuses_mismatched_lengths_and_duplicates_without_changing_the_index():
    index = VectorIndex(3)
    with pytest.raises(ValueError, match="2 vectors, 3 ids and 3 clips"):
        index.add(np.eye(3)[:2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="2 vectors, 2 ids and 1 clips"):
        index.add(np.eye(3)[:2], ["a", "b"], ["c1"])
    with pytest.raises(ValueError, match="sample a: duplicate"):
        index.add(np.eye(3)[:2], ["a", "a"])
    assert len(index) == 0 and index.ids == [] and index.clips == []


def test_vectors_returns_the_stored_unit_rows(store):
    index, vectors, *_ = store
    stored = index.vectors()
    assert stored.shape == (40, 12) and stored.dtype == np.float32
    np.testing.assert_allclose(stored, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), atol=1e-6)
    assert VectorIndex(4).vectors().shape == (0, 4)


def test_load_refuses_a_sidecar_that_does_not_match_the_index(store, tmp_path):
    index, *_ = store
    index.save(tmp_path / "index.faiss")
    sidecar = json.loads((tmp_path / "index.json").read_text())
    del sidecar["checksum"]  # the counts are checked even without a checksum (sidecar version 1)
    sidecar["ids"], sidecar["clips"] = sidecar["ids"][:-1], sidecar["clips"][:-1]
    (tmp_path / "index.json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match=r"holds 40 vectors of dimension 12, but its sidecar index\.json lists 39 ids"):
        VectorIndex.load(tmp_path)
    sidecar["ids"].append("s39")
    sidecar["clips"].append("c9")
    sidecar["dim"] = 13
    (tmp_path / "index.json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match=r"dimension 12, but .* of dimension 13"):
        VectorIndex.load(tmp_path)


def test_load_needs_the_faiss_file(store, tmp_path):
    index, *_ = store
    index.save(tmp_path / "index.faiss")
    (tmp_path / "index.faiss").unlink()
    with pytest.raises(FileNotFoundError, match=r"index\.faiss"):
        VectorIndex.load(tmp_path)


def test_an_empty_saved_index_round_trips(tmp_path):
    VectorIndex(5, {"key": "text"}).save(tmp_path / "index.faiss")
    back = VectorIndex.load(tmp_path / "index.faiss")
    assert len(back) == 0 and back.dim == 5 and back.ids == [] and back.meta == {"key": "text"}
    assert back.search(np.ones((2, 5)), 3) == [[], []]
    assert back.vectors().shape == (0, 5)
