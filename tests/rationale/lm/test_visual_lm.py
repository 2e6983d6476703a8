"""Video in the rationale LM: frame tokens in the condition, gated fusion in the graph, gate logging, fusion lr."""

import json
import math

import numpy as np
import pytest
import torch

from heedful.errors import InputError
from heedful.rationale import load_demo
from heedful.rationale.data.config import DataConfig
from heedful.rationale.graph.encoder import ChangeGraphEncoder, GraphConfig, make_batch
from heedful.rationale.lm.generate import GenerateConfig
from heedful.rationale.lm.inject import ConditionTokens
from heedful.rationale.lm.pipeline import predict_pipeline, train_pipeline
from heedful.rationale.lm.train import LMTrainConfig, param_groups
from heedful.rationale.retrieval.keys import KeyConfig

from ..conftest import tiny_lm, tiny_tokenizer
from .test_lm_train import model_cfg


def demo_npz(path, dim=6, seed=0):
    samples = load_demo()
    utt = [u.utt_id for s in samples for u in s.utterances]
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        features=rng.normal(size=(len(utt), dim)).astype(np.float16),
        offsets=np.cumsum([0] + [len(s.utterances) for s in samples]),
        sample_id=np.array([s.sample_id for s in samples]),
        utt_id=np.array(utt),
    )
    return str(path)


def test_condition_tokens_add_one_masked_frame_token_per_utterance():
    torch.manual_seed(0)
    maker = ConditionTokens(dim=8, n_latents=3, visual_dim=5)
    h, states = torch.randn(2, 8), torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    tokens, full = maker(h, states, mask, torch.randn(2, 4, 5))
    assert tokens.shape == (2, 3 + 4 + 4, 8)
    assert full[:, 3:7].equal(mask) and full[:, 7:].equal(mask) and full[:, :3].all()
    # the frame tokens carry the frames: changing one utterance's frame changes its token only
    v = torch.randn(2, 4, 5)
    a, _ = maker(h, states, mask, v)
    v2 = v.clone()
    v2[0, 1] += 1.0
    b, _ = maker(h, states, mask, v2)
    changed = (a - b).abs().sum(-1) > 1e-6
    assert changed[0, 7 + 1] and changed.sum() == 1
    with pytest.raises(InputError, match="visual tokens"):
        maker(h, states, mask, None)


@pytest.mark.parametrize("fusion", ["sum", "gated"])
def test_fused_nodes_depend_on_the_frames_and_modality_dropout_zeroes_them(fusion):
    torch.manual_seed(0)
    samples = load_demo()[:2]
    cfg = GraphConfig(text_dim=4, hidden=8, heads=2, layers=1, dropout=0.0, visual_dim=3, fusion=fusion)
    enc = ChangeGraphEncoder(cfg).eval()
    text = [np.ones((len(s.utterances), 4), np.float32) for s in samples]
    frames = [
        np.random.default_rng(i).normal(size=(len(s.utterances), 3)).astype(np.float32) for i, s in enumerate(samples)
    ]
    zero = [np.zeros_like(f) for f in frames]
    with torch.no_grad():
        out = enc(make_batch(samples, text, cfg, frames))
        blank = enc(make_batch(samples, text, cfg, zero))
    assert not torch.allclose(out.h_change, blank.h_change)
    assert out.visual.shape == (2, max(len(s.utterances) for s in samples), 3)
    enc.cfg.modality_dropout = 0.999
    enc.train()
    torch.manual_seed(1)
    with torch.no_grad():
        dropped = enc.node_inputs(make_batch(samples, text, cfg, frames))
        plain = enc.node_inputs(make_batch(samples, text, cfg, zero))
    assert torch.allclose(dropped, plain, atol=1e-6)  # every frame dropped = no frames


def train_video(tmp_path, npz, **train_kw):
    torch.manual_seed(0)
    cfg = model_cfg("xattn")
    cfg.inject.gate_init = train_kw.pop("gate_init", 0.0)
    feats = KeyConfig(cache_dir=str(tmp_path / "cache"), visual=npz)
    train = LMTrainConfig(epochs=2, batch_size=2, grad_accum=1, lr=3e-3, max_dev=4, **train_kw)
    folder = tmp_path / "run"
    report = train_pipeline(
        DataConfig(), cfg, train, folder, feats, max_train=6, progress=False, lm=tiny_lm(), tokenizer=tiny_tokenizer()
    )
    return report, folder


def test_video_model_trains_logs_gates_and_predicts(tmp_path):
    npz = demo_npz(tmp_path / "v.npz")
    report, folder = train_video(tmp_path, npz, fusion_lr=1e-2)
    assert [h["epoch"] for h in report["history"]] == [1, 2]
    gates = report["history"][-1]["gates"]
    assert set(gates) == {"2", "3"} and all(len(v) == 2 for v in gates.values())
    assert any(abs(v) > 0 for pair in gates.values() for v in pair)  # the gates moved from 0
    saved = json.loads((folder / "config.json").read_text())
    assert saved["visual"]["dim"] == 6 and saved["model"]["graph"]["visual_dim"] == 6
    assert saved["model"]["inject"]["visual_dim"] == 6 and saved["features"]["visual"] == npz
    dev = load_demo()[:2]
    out = predict_pipeline(
        dev, GenerateConfig(max_new_tokens=4), str(folder), lm=tiny_lm(), tokenizer=tiny_tokenizer(), progress=False
    )
    assert len(out) == 2
    assert_other_frames_refused(tmp_path, folder)


def assert_other_frames_refused(tmp_path, folder):
    """A run trained on 6-d frames: a file of another dimension is refused before any generation, and so is none."""
    for visual, message in (
        (demo_npz(tmp_path / "w.npz", dim=7), "7-d; the model was trained on 6-d"),
        (None, "trained with video"),
    ):
        features = KeyConfig(cache_dir=str(tmp_path / "cache"), visual=visual)
        with pytest.raises(InputError, match=message):
            predict_pipeline(
                load_demo()[:2],
                GenerateConfig(max_new_tokens=4),
                str(folder),
                features=features,
                lm=tiny_lm(),
                tokenizer=tiny_tokenizer(),
                progress=False,
            )


def test_fusion_lr_is_its_own_group_and_gate_init_opens_the_gates(tmp_path):
    from heedful.rationale.lm.model import RationaleLM

    cfg = model_cfg("xattn")
    cfg.inject.gate_init = 0.25
    model = RationaleLM(tiny_lm(), cfg)
    groups = param_groups(model, LMTrainConfig(lr=1e-3, fusion_lr=2e-2))
    assert [g["lr"] for g in groups] == [1e-3, 2e-2]
    fusion = {id(p) for p in groups[1]["params"]}
    assert all(id(b.attn_gate.gate) in fusion for b in model.clm.blocks())
    assert not any("lora" in n for n, p in model.named_parameters() if id(p) in fusion)
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )
    assert all(math.isclose(a, 0.25) and math.isclose(f, 0.25) for a, f in model.clm.gates().values())
    assert param_groups(model, LMTrainConfig(lr=1e-3))[1]["lr"] == 1e-3


@pytest.mark.parametrize("gate_init", [0.0, 0.3])
def test_video_removal_is_zero_with_closed_gates_and_moves_with_open_ones(tmp_path, gate_init):
    from heedful.rationale.lm.model import RationaleLM
    from heedful.rationale.lm.pipeline import prepare, use_visual
    from heedful.rationale.lm.video_faithfulness import video_removal

    torch.manual_seed(0)
    cfg = model_cfg("xattn")
    cfg.inject.gate_init = gate_init
    feats = KeyConfig(cache_dir=str(tmp_path / "cache"), visual=demo_npz(tmp_path / "v.npz"))
    use_visual(cfg, feats)
    tok = tiny_tokenizer()
    model = RationaleLM(tiny_lm(), cfg).eval()
    examples = prepare(model, tok, load_demo()[:3], None, feats, progress=False)
    report = video_removal(model, tok, examples, np.zeros(6, np.float32))
    assert report["n"] == 3 and len(report["per_sample"]) == 3
    if gate_init:
        assert report["abs_nats_per_token"] > 1e-4
    else:
        assert report["abs_nats_per_token"] == 0.0  # closed gates: the LM cannot see the frames at all


def test_attention_over_utterances_adds_each_frame_to_its_utterance():
    from heedful.rationale.lm.generate import utterance_attention

    # 2 latents, 3 node slots, 3 frame slots; sample 0 has 2 utterances, sample 1 has 3
    w = torch.tensor([[0.2, 0.0, 0.1, 0.3, 0.0, 0.2, 0.2, 0.0], [0.0, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2]])
    maps = utterance_attention({5: [w[:, None, None, :]]}, n_latents=2, lengths=[2, 3], visual=True)
    assert maps[0]["utterances"] == pytest.approx([0.3 / 0.8, 0.5 / 0.8], abs=1e-4)
    assert maps[0]["visual_share"] == pytest.approx(0.4) and maps[0]["latent_share"] == pytest.approx(0.2)
    assert maps[1]["visual_share"] == pytest.approx(0.6)


def test_prompt_without_text_keeps_speakers_and_emotions_only():
    from heedful.rationale.data.prompt import build_prompt
    from heedful.rationale.lm.model import RationaleLMConfig

    sample = load_demo()[0]
    hidden = build_prompt(sample, with_text=False)
    assert all(u.text not in hidden for u in sample.utterances if len(u.text) > 1)
    assert all(f"{u.speaker} [{','.join(u.emotion)}]: …" in hidden for u in sample.utterances)
    assert "Emotion change:" in hidden and build_prompt(sample) != hidden
    with pytest.raises(InputError, match="needs the cross-attention"):
        RationaleLMConfig(mode="retrieval", prompt_text=False)


def test_frozen_gates_stay_at_their_start_and_are_not_saved(tmp_path):
    from heedful.rationale.lm.model import RationaleLM

    cfg = model_cfg("xattn")
    cfg.inject.gate_init, cfg.inject.freeze_gates = 0.1, True
    model = RationaleLM(tiny_lm(), cfg)
    assert not any("gate" in n for n in model.trainable_state())
    assert all(not p.requires_grad for g in param_groups(model, LMTrainConfig()) for p in g["params"] if p.dim() == 0)
