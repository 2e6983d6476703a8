from collections import Counter

import numpy as np
import pytest
import torch

from heedful.rationale.graph.encoder import (
    RELATIONS,
    ChangeGraphEncoder,
    GraphConfig,
    graph_edges,
    make_batch,
    speaker_roles,
)

from ..conftest import dialogue

LINES = [
    ("A", ["Neutral"], "你回来了。"),
    ("B", ["Neutral"], "嗯，路上堵车。"),
    ("A", ["Neutral"], "饭都凉了。"),
    ("B", ["Sad"], "对不起。"),
    ("A", ["Anger"], "每次都这样！"),
]


def test_edge_types_and_counts_on_a_hand_made_dialogue():
    sample = dialogue(LINES, change=(2, 4))  # A's change, utterances 2..4; S is node 5
    edges, types = graph_edges(sample)
    counts = Counter(RELATIONS[t] for t in types)
    assert counts == {
        "temporal_next": 4,
        "temporal_prev": 4,
        "same_speaker": 6 + 2,  # A: 0,2,4 → 3·2 ordered pairs; B: 1,3 → 2
        "span_to_super": 3,
        "super_to_span": 3,
    }
    by_type = {r: {e for e, t in zip(edges, types, strict=True) if RELATIONS[t] == r} for r in RELATIONS}
    assert by_type["temporal_next"] == {(0, 1), (1, 2), (2, 3), (3, 4)}
    assert by_type["same_speaker"] == {(0, 2), (2, 0), (0, 4), (4, 0), (2, 4), (4, 2), (1, 3), (3, 1)}
    assert by_type["span_to_super"] == {(2, 5), (3, 5), (4, 5)}
    assert by_type["super_to_span"] == {(5, 2), (5, 3), (5, 4)}
    assert speaker_roles(sample, 8) == [0, 1, 0, 1, 0]  # the changing speaker is role 0


def features(samples, dim=16, seed=0):
    g = np.random.default_rng(seed)
    return [g.standard_normal((len(s.utterances), dim)).astype(np.float32) for s in samples]


@pytest.mark.parametrize("conv", ["gatv2", "rgcn"])
def test_outputs_padded_masked_and_independent_of_batch_company(conv):
    samples = [dialogue(LINES, change=(2, 4), sample_id="a"), dialogue(LINES[:3], sample_id="b")]
    cfg = GraphConfig(text_dim=16, hidden=24, layers=2, conv=conv, heads=4, dropout=0.0)
    torch.manual_seed(0)
    model = ChangeGraphEncoder(cfg).eval()
    feats = features(samples)
    out = model(make_batch(samples, feats, cfg))
    assert out.h_change.shape == (2, 24) and out.node_states.shape == (2, 5, 24)
    assert out.node_mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert torch.all(out.node_states[1, 3:] == 0)
    alone = model(make_batch(samples[1:], feats[1:], cfg))
    torch.testing.assert_close(alone.h_change[0], out.h_change[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone.node_states[0], out.node_states[1, :3], atol=1e-5, rtol=1e-5)


def test_h_change_depends_on_the_span_and_every_parameter_group_gets_gradient():
    cfg = GraphConfig(text_dim=16, hidden=24, layers=2, heads=4, dropout=0.0)
    torch.manual_seed(0)
    model = ChangeGraphEncoder(cfg)
    a, b = dialogue(LINES, change=(2, 4)), dialogue(LINES, change=(0, 4))
    feats = features([a, a])
    out = model(make_batch([a, b], feats, cfg))
    assert not torch.allclose(out.h_change[0], out.h_change[1])
    (out.h_change.sum() + out.node_states.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_feature_dimension_mismatch_names_the_sample():
    cfg = GraphConfig(text_dim=16, hidden=8, heads=2)
    s = dialogue(LINES, sample_id="d7")
    with pytest.raises(ValueError, match=r"sample d7: text features have shape \(5, 12\), expected \(5, 16\)"):
        make_batch([s], features([s], dim=12), cfg)


def test_visual_features_enter_the_nodes():
    cfg = GraphConfig(text_dim=16, hidden=8, heads=2, visual_dim=4, dropout=0.0)
    s = dialogue(LINES)
    model = ChangeGraphEncoder(cfg).eval()
    feats = features([s])
    v0 = [np.zeros((5, 4), np.float32)]
    v1 = [np.ones((5, 4), np.float32)]
    h0 = model(make_batch([s], feats, cfg, v0)).h_change
    h1 = model(make_batch([s], feats, cfg, v1)).h_change
    assert not torch.allclose(h0, h1)
    with pytest.raises(ValueError, match="visual features missing"):
        make_batch([s], feats, cfg)


def test_config_is_validated():
    with pytest.raises(ValueError, match="conv must be one of"):
        GraphConfig(conv="gcn")
    with pytest.raises(ValueError, match="divisible by heads"):
        GraphConfig(hidden=30, heads=4)
