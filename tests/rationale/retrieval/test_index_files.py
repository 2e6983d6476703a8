"""VectorIndex.load against edited, damaged and legacy files, one refusal at a time, without the CLI."""

import hashlib
import json

import numpy as np
import pytest

from heedful.rationale.retrieval.index import SIDECAR_VERSION, VectorIndex


@pytest.fixture
def saved(tmp_path):
    index = VectorIndex(4, {"key": "text"})
    index.add(np.eye(4)[:3] + 0.1, ["a", "b", "c"], ["c1", "c1", None])
    index.save(tmp_path / "index.faiss")
    return tmp_path / "index.faiss", tmp_path / "index.json"


def edit(sidecar_path, change):
    sidecar = json.loads(sidecar_path.read_text())
    change(sidecar)
    sidecar_path.write_text(json.dumps(sidecar))


def test_the_sidecar_records_what_load_checks(saved):
    _, sidecar_path = saved
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["version"] == SIDECAR_VERSION == 2
    assert (sidecar["dim"], sidecar["metric"], sidecar["count"]) == (4, "cosine", 3)
    assert sidecar["ids"] == ["a", "b", "c"] and sidecar["clips"] == ["c1", "c1", None]
    assert len(sidecar["checksum"]) == 64 and sidecar["meta"] == {"key": "text"}


@pytest.mark.parametrize(
    "change",
    [lambda s: s["ids"].reverse(), lambda s: s["clips"].__setitem__(2, "c2"), lambda s: s["ids"].__setitem__(0, "z")],
    ids=["reordered ids", "changed clip", "renamed id"],
)
def test_ids_or_clips_edited_after_saving_fail_the_checksum(saved, change):
    path, sidecar_path = saved
    edit(sidecar_path, change)
    with pytest.raises(ValueError, match="checksum differs"):
        VectorIndex.load(path)


def test_a_changed_byte_of_the_index_file_fails_the_checksum(saved):
    path, _ = saved
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # the last float of the last vector: FAISS would read it without complaint
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"index\.faiss: does not match its sidecar index\.json"):
        VectorIndex.load(path)


def test_a_legacy_sidecar_loads_and_a_damaged_file_is_one_line(saved):
    path, sidecar_path = saved
    edit(sidecar_path, lambda s: [s.pop("checksum"), s.pop("clips")])  # version 1 sidecars could lack both
    back = VectorIndex.load(path)
    assert back.ids == ["a", "b", "c"] and back.clips == [None, None, None] and back.meta == {"key": "text"}
    # no clips stored: asking to leave out clip c1 leaves out only the query's own sample
    assert [h.sample_id for h in back.search(np.array([[1.0, 0.5, 0, 0]]), 2, ["a"], ["c1"])[0]] == ["b", "c"]
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"index\.faiss: damaged FAISS index \(.+\)") as err:
        VectorIndex.load(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            RuntimeError("Error in read_index at index_read.cpp:97\nread error: " + "x" * 200),
            "read error: " + "x" * 108,
        ),
        (RuntimeError("  "), "RuntimeError"),
        (MemoryError(), "MemoryError"),
    ],
    ids=["long, on two lines", "blank", "no message"],
)
def test_faisss_error_becomes_one_line_with_its_last_line(saved, monkeypatch, error, reason):
    import faiss

    path, _ = saved

    def fail(name):
        raise error

    monkeypatch.setattr(faiss, "read_index", fail)
    with pytest.raises(ValueError) as err:
        VectorIndex.load(path)
    assert str(err.value) == f"{path}: damaged FAISS index ({reason})"


def test_the_checksum_is_the_file_then_the_utf8_json_of_ids_and_clips(tmp_path):
    # pinned: indexes saved earlier must keep loading, and sample ids are often not ASCII
    index = VectorIndex(2)
    index.add(np.eye(2), ["样本一", "s2"], ["片段", None])
    path = index.save(tmp_path / "index.faiss")
    expected = hashlib.sha256(path.read_bytes() + '[["样本一", "s2"], ["片段", null]]'.encode())
    assert json.loads(path.with_suffix(".json").read_text())["checksum"] == expected.hexdigest()


def test_a_legacy_sidecar_listing_more_ids_than_vectors_is_refused(saved):
    path, sidecar_path = saved
    edit(sidecar_path, lambda s: [s.pop("checksum"), s["ids"].append("d"), s["clips"].append(None)])
    with pytest.raises(ValueError, match=r"holds 3 vectors of dimension 4, but its sidecar index\.json lists 4 ids"):
        VectorIndex.load(path)


def test_an_index_of_another_metric_is_refused(saved):
    import faiss

    path, sidecar_path = saved
    l2 = faiss.IndexFlatL2(4)
    l2.add(np.eye(4, dtype=np.float32)[:3])
    faiss.write_index(l2, str(path))
    edit(sidecar_path, lambda s: s.pop("checksum"))
    with pytest.raises(ValueError, match=r"expected an inner-product \(cosine\) index"):
        VectorIndex.load(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["ids"].__setitem__(1, 7), "ids must be a list of strings"),
        (lambda s: s.pop("ids"), "ids must be a list of strings"),
        (lambda s: s["ids"].__setitem__(1, "a"), r"sample a: duplicate id"),
        (lambda s: s["ids"].__setitem__(1, "a\nb") or s["ids"].__setitem__(2, "a\nb"), r"sample 'a\\nb': duplicate"),
        (lambda s: s["clips"].pop(), "clips must be a list of 3 strings or nulls"),
        (lambda s: s["clips"].append("c1"), "clips must be a list of 3 strings or nulls"),
        (lambda s: s["clips"].__setitem__(0, 3), "clips must be a list of 3 strings or nulls"),
        (lambda s: s.__setitem__("clips", "c1"), "clips must be a list of 3 strings or nulls"),
        (lambda s: s.__setitem__("meta", ["key"]), "meta must be an object"),
    ],
    ids=[
        "id not a string",
        "no ids",
        "duplicate id",
        "duplicate unprintable id",
        "clip short",
        "clip extra",
        "clip a number",
        "clips a string",
        "meta a list",
    ],
)
def test_a_malformed_sidecar_is_refused_before_faiss_reads_anything(saved, change, message):
    path, sidecar_path = saved
    edit(sidecar_path, change)
    path.write_bytes(b"not a faiss file")  # the sidecar's own checks come first
    with pytest.raises(ValueError, match=message):
        VectorIndex.load(path)


@pytest.mark.parametrize("dim", [3, 5, None])
def test_a_legacy_sidecar_of_another_dimension_is_refused(saved, dim):
    path, sidecar_path = saved
    edit(sidecar_path, lambda s: [s.pop("checksum"), s.__setitem__("dim", dim) if dim else s.pop("dim")])
    with pytest.raises(ValueError, match=rf"holds 3 vectors of dimension 4, but .* lists 3 ids of dimension {dim}$"):
        VectorIndex.load(path)


def test_a_sidecar_that_is_not_an_object_is_refused(saved):
    path, sidecar_path = saved
    sidecar_path.write_text("[1, 2, 3]")
    with pytest.raises(ValueError, match=r"index\.json: expected a JSON object \(an index sidecar\), got list"):
        VectorIndex.load(path)


def test_load_needs_the_sidecar_and_takes_a_folder(saved):
    path, sidecar_path = saved
    assert VectorIndex.load(path.parent).ids == ["a", "b", "c"]
    sidecar_path.unlink()
    with pytest.raises(FileNotFoundError, match=r"no index file .*index\.json"):
        VectorIndex.load(path)


def test_clip_exclusion_sees_rows_added_after_a_search():
    index = VectorIndex(2)
    index.add(np.array([[1.0, 0], [0.9, 0.1]]), ["a", "b"], ["c1", "c2"])
    assert [h.sample_id for h in index.search(np.array([[1.0, 0]]), 5, ["q"], ["c1"])[0]] == ["b"]
    index.add(np.array([[1.0, 0.01], [0.0, 1.0]]), ["c", "d"], ["c1", None])
    assert [h.sample_id for h in index.search(np.array([[1.0, 0]]), 5, ["q"], ["c1"])[0]] == ["b", "d"]
    assert [h.sample_id for h in index.search(np.array([[1.0, 0]]), 5, ["c"])[0]] == ["a", "b", "d"]
