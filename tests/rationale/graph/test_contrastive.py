import numpy as np
import pytest
import torch

from heedful.rationale import load_demo
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.features.encoders import HashEncoder, encode_groups, utterance_features
from heedful.rationale.graph.contrastive import (
    ContrastiveConfig,
    embed_changes,
    info_nce,
    load_aligner,
    recall_at_k,
    save_aligner,
    train_aligner,
)
from heedful.rationale.graph.encoder import GraphConfig


def test_recall_at_k_by_hand():
    targets = np.eye(3)
    queries = np.array([[1.0, 0, 0], [1.0, 0.9, 0], [1.0, 1.0, 0]])  # row 1 ranks its target 2nd, row 2 ranks it 3rd
    r = recall_at_k(queries, targets, ks=(1, 2))
    assert r["recall@1"] == pytest.approx(1 / 3) and r["recall@2"] == pytest.approx(2 / 3)
    assert r["chance@1"] == pytest.approx(1 / 3) and r["n"] == 3
    nan = recall_at_k(np.full((3, 3), np.nan), targets, ks=(1,))  # NaN embeddings: misses, not a perfect score
    assert nan["recall@1"] == 0.0


def test_info_nce_is_low_for_aligned_pairs():
    g = torch.Generator().manual_seed(0)  # unseeded, 1 draw in 2,000 put two rows close enough to fail
    t = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=-1)
    assert info_nce(t, t, 0.05) < 0.01
    assert info_nce(t, t.roll(1, 0), 0.05) > 1.0


def demo_parts(dim=32):
    samples = load_demo()
    enc = HashEncoder(dim)
    feats = utterance_features(samples, enc, progress=False)
    targets = np.concatenate(encode_groups([[scoring_string(s.rationale)] for s in samples], enc, progress=False))
    return samples, feats, targets


def test_short_training_aligns_train_pairs_and_checkpoint_round_trips(tmp_path):
    samples, feats, targets = demo_parts()
    graph = GraphConfig(text_dim=32, hidden=32, layers=2, heads=4, dropout=0.0)
    cfg = ContrastiveConfig(epochs=25, batch_size=16, lr=5e-3, temperature=0.1)
    model, report = train_aligner((samples, feats, targets), (samples, feats, targets), graph, cfg, progress=False)
    assert report["loss"][-1] < 0.5 * report["loss"][0]
    assert report["after"]["recall@1"] > report["before"]["recall@1"] + 0.3  # memorises its training pairs
    save_aligner(model, tmp_path, {"encoder": "hash:32"})
    back, meta = load_aligner(tmp_path)
    assert meta["encoder"] == "hash:32" and meta["graph"]["hidden"] == 32
    np.testing.assert_allclose(embed_changes(back, samples, feats), embed_changes(model, samples, feats), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="heedful rationale pretrain"):
        load_aligner(tmp_path / "nothing")
