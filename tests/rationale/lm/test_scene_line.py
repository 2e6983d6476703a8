"""Verbalised video in the LM: the classifier's phrase as a prompt line (画面：…), fitted and stored by training."""

import json

import numpy as np
import pytest

from heedful.errors import InputError
from heedful.rationale import load_demo
from heedful.rationale.data.config import DataConfig
from heedful.rationale.data.prompt import build_prompt
from heedful.rationale.features.verbal import PHRASES, PhraseClassifier, render
from heedful.rationale.features.visual import VisualFile
from heedful.rationale.lm.examples import prompt_text
from heedful.rationale.lm.model import load_rationale_lm
from heedful.rationale.lm.pipeline import predict_pipeline, prepare, train_pipeline
from heedful.rationale.lm.train import LMTrainConfig
from heedful.rationale.retrieval.keys import KeyConfig

from ..conftest import tiny_lm, tiny_tokenizer
from ..features.test_verbal import sample
from .test_lm_train import model_cfg
from .test_visual_lm import assert_other_frames_refused, demo_npz


def test_scene_goes_between_context_and_change_and_nothing_changes_without_it():
    s = load_demo()[0]
    plain, seen = build_prompt(s), build_prompt(s, scene="B皱眉")
    assert build_prompt(s, scene=None) == plain and "画面" not in plain
    context, rest = seen.split("画面：B皱眉\n")
    assert plain == context + rest  # the line is the only difference
    assert context.startswith("Context:\n") and rest.startswith("\nEmotion change:")


def test_cross_fitted_phrases_come_from_classifiers_that_did_not_see_the_sample():
    rng = np.random.default_rng(0)
    samples, frames = [], []
    for i in range(40):
        kind = i % 2
        f = rng.normal(scale=0.1, size=(3, 4)).astype(np.float32)
        f[:, kind] += 3.0
        samples.append(sample(i, ["B皱眉", None][kind]))
        frames.append(f)
    got = PhraseClassifier.cross_fit(samples, frames, folds=4)
    assert got == [s.rationale.visual for s in samples]  # separable: every held-out sample is right
    # a sample whose frames lie: cross-fitted, it gets what its frames say, not its own (memorisable) label
    frames[0] = frames[1].copy()
    assert PhraseClassifier.cross_fit(samples, frames, folds=4)[0] is None


def scene_run(tmp_path):
    npz = demo_npz(tmp_path / "v.npz")
    cfg = model_cfg("xattn")
    cfg.scene_line = True
    feats = KeyConfig(cache_dir=str(tmp_path / "cache"), visual=npz)
    train = LMTrainConfig(epochs=1, batch_size=2, grad_accum=1, lr=3e-3, max_dev=4)
    folder = tmp_path / "run"
    train_pipeline(
        DataConfig(), cfg, train, folder, feats, max_train=6, progress=False, lm=tiny_lm(), tokenizer=tiny_tokenizer()
    )
    return folder, npz


def frown_classifier(path, dim=6):
    """By hand: '{T}皱眉' when the change span's mean frame has a positive first channel, else none."""
    coef = np.zeros((2, 2 * dim), np.float32)
    coef[1, 0] = 10.0
    PhraseClassifier(["none", "{T}皱眉"], coef, np.zeros(2, np.float32)).save(path)


def test_training_stores_the_classifier_and_prompts_carry_its_phrase(tmp_path):
    folder, npz = scene_run(tmp_path)
    saved = json.loads((folder / "config.json").read_text())
    assert saved["model"]["scene_line"] is True
    assert saved["model"]["graph"]["visual_dim"] == 0  # words only: no frame tokens in the condition
    assert saved["visual"]["dim"] == 6 and (folder / PHRASES).is_file()
    frown_classifier(folder / PHRASES)
    tok = tiny_tokenizer()
    model, tok, _ = load_rationale_lm(folder, tiny_lm(), tok)
    assert model.frame_dim == 6
    dev = load_demo()[:6]
    feats = KeyConfig(cache_dir=str(tmp_path / "cache"), visual=npz)
    frames = VisualFile(npz).for_samples(dev)
    frowns = [frames[i][s.emo_change.start_idx : s.emo_change.end_idx + 1, 0].mean() > 0 for i, s in enumerate(dev)]
    assert 0 < sum(frowns) < len(dev)  # both kinds of prompt are checked
    examples = prepare(model, tok, dev, None, feats, progress=False, strict=False)
    for s, e, frown in zip(dev, examples, frowns, strict=True):
        scene = render(s, "{T}皱眉") if frown else None
        assert e.prompt_ids == tok(prompt_text(tok, s, (), True, scene)).input_ids
        assert e.visual is None  # the graph gets no frames
    out = predict_pipeline(
        dev[:2], _gen(), str(folder), features=feats, lm=tiny_lm(), tokenizer=tiny_tokenizer(), progress=False
    )
    assert len(out) == 2


def _gen():
    from heedful.rationale.lm.generate import GenerateConfig

    return GenerateConfig(max_new_tokens=3)


def test_scene_line_refuses_missing_or_other_frames(tmp_path):
    cfg = model_cfg("xattn")
    cfg.scene_line = True
    with pytest.raises(InputError, match="--scene-line reads the frames"):
        train_pipeline(
            DataConfig(),
            cfg,
            LMTrainConfig(epochs=1),
            tmp_path / "none",
            KeyConfig(cache_dir=str(tmp_path / "cache")),
            max_train=4,
            progress=False,
            lm=tiny_lm(),
            tokenizer=tiny_tokenizer(),
        )
    folder, _ = scene_run(tmp_path)
    assert_other_frames_refused(tmp_path, folder)
