"""Visual features: matching to samples (INSIDE by utterance id, flat by item order) and every refusal."""

import json

import numpy as np
import pytest

from heedful.errors import InputError
from heedful.rationale.data.loaders import load_samples
from heedful.rationale.features.visual import VisualFile, check_rows, mean_vector

from ..conftest import inside_record


def write_npz(path, rows_per_item, utt_ids, dim=4, sample_ids=None, **over):
    rng = np.random.default_rng(0)
    total = sum(rows_per_item)
    arrays = {
        "features": rng.normal(size=(total, dim)).astype(np.float16),
        "offsets": np.cumsum([0, *rows_per_item]),
        "sample_id": np.array(sample_ids or [f"s{i}" for i in range(len(rows_per_item))]),
        "utt_id": np.array(utt_ids),
    }
    arrays.update(over)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def flat_file(tmp_path):
    items = [
        {"dialogue": "A [Neutral]: 你好。\nB [Anger]: 走开！", "rationale": None},
        {"dialogue": "A [Neutral]: 吃了吗？\nB [Happy]: 吃了。\nA [Happy]: 好。", "rationale": None},
    ]
    path = tmp_path / "flat.json"
    path.write_text(json.dumps(items, ensure_ascii=False))
    return path


def test_flat_samples_take_their_items_rows_in_order(tmp_path, flat_file):
    samples = load_samples(flat_file).samples
    npz = write_npz(tmp_path / "v.npz", [2, 3], ["a_1", "a_2", "b_1", "b_2", "b_3"])
    vf = VisualFile(npz)
    rows = vf.for_samples(samples)
    raw = np.load(npz)["features"].astype(np.float32)
    assert [r.shape for r in rows] == [(2, 4), (3, 4)]
    np.testing.assert_array_equal(rows[1], raw[2:5])
    # the second sample alone (as after a split) still finds its own rows, by its position in the file
    np.testing.assert_array_equal(vf.for_samples(samples[1:])[0], raw[2:5])
    assert vf.describe()["dim"] == 4 and vf.describe()["items"] == 2


def test_inside_samples_match_by_utterance_id(tmp_path):
    path = tmp_path / "inside.json"
    path.write_text(json.dumps([inside_record("s1")], ensure_ascii=False))
    sample = load_samples(path).samples[0]
    # the file stores the utterances in another order, and one of them twice (another sample of the clip)
    npz = write_npz(tmp_path / "v.npz", [2, 2], ["u3", "u1", "u2", "u1"])
    raw = np.load(npz)["features"].astype(np.float32)
    rows = VisualFile(npz).for_samples([sample])[0]
    np.testing.assert_array_equal(rows, raw[[1, 2, 0]])


def test_row_count_mismatch_names_the_sample(tmp_path, flat_file):
    samples = load_samples(flat_file).samples
    npz = write_npz(tmp_path / "v.npz", [3, 2], ["a"] * 5)
    with pytest.raises(InputError, match=r"sample flat_0: .* 3 visual rows for its 2 utterances"):
        VisualFile(npz).for_samples(samples)


def test_missing_id_refused_or_zero_filled(tmp_path):
    path = tmp_path / "inside.json"
    path.write_text(json.dumps([inside_record("s1")], ensure_ascii=False))
    sample = load_samples(path).samples[0]
    npz = write_npz(tmp_path / "v.npz", [2], ["u1", "u2"])
    with pytest.raises(InputError, match="sample s1: utterance u3 not in"):
        VisualFile(npz).for_samples([sample])
    vf = VisualFile(npz)
    rows = vf.for_samples([sample], missing="zero")
    assert rows[0].shape == (3, 4) and not rows[0].any() and vf.zero_filled == ["s1"]


def test_nan_and_item_out_of_range(tmp_path, flat_file):
    samples = load_samples(flat_file).samples
    feats = np.zeros((5, 4), np.float32)
    feats[3, 1] = np.nan
    npz = write_npz(tmp_path / "v.npz", [2, 3], ["a"] * 5, features=feats)
    with pytest.raises(InputError, match=r"sample flat_1: visual features .* NaN or inf"):
        VisualFile(npz).for_samples(samples)
    short = write_npz(tmp_path / "short.npz", [2], ["a", "b"])
    with pytest.raises(InputError, match=r"sample flat_1: no item 1 in .*\(1 items\)"):
        VisualFile(short).for_samples(samples)


@pytest.mark.parametrize(
    "over, message",
    [
        ({"offsets": np.array([0, 2, 9])}, "offsets must rise from 0"),
        ({"features": np.zeros(5)}, "must be a .rows, D. numeric array"),
        ({"utt_id": np.array(["a"])}, "lengths do not match"),
    ],
)
def test_malformed_files_are_refused(tmp_path, over, message):
    npz = write_npz(tmp_path / "v.npz", [2, 3], ["a"] * 5, **over)
    with pytest.raises(InputError, match=message):
        VisualFile(npz)


def test_not_an_npz_missing_array_and_pickles(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(InputError, match="cannot read visual features"):
        VisualFile(bad)
    np.savez(tmp_path / "partial.npz", features=np.zeros((2, 3)))
    with pytest.raises(InputError, match="missing array 'offsets'"):
        VisualFile(tmp_path / "partial.npz")
    objects = write_npz(tmp_path / "obj.npz", [1], ["a"], utt_id=np.array([{"x": 1}], dtype=object))
    with pytest.raises(InputError, match="cannot read visual features"):
        VisualFile(objects)
    with pytest.raises(FileNotFoundError):
        VisualFile(tmp_path / "absent.npz")


def test_check_rows_and_mean(flat_file):
    samples = load_samples(flat_file).samples
    good = [np.ones((2, 4), np.float32), np.zeros((3, 4), np.float32)]
    check_rows(good, samples, 4, "request")
    np.testing.assert_allclose(mean_vector(good), np.full(4, 0.4), rtol=1e-6)
    with pytest.raises(InputError, match=r"sample flat_1: request visual features have shape \(3, 5\)"):
        check_rows([good[0], np.zeros((3, 5), np.float32)], samples, 4, "request")
