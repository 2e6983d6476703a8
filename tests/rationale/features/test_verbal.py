"""The verbalised-video baseline: phrases by speaker role, a classifier that learns a separable case, JSON save."""

import numpy as np
import pytest

from heedful.errors import InputError
from heedful.rationale.data.schema import Rationale
from heedful.rationale.features.verbal import PhraseClassifier, abstract, frame_input, render, scene_line

from ..conftest import dialogue


def sample(i, visual, target="B"):
    other = "A" if target == "B" else "B"
    lines = [(other, ["Neutral"], "你好"), (target, ["Neutral"], "嗯"), (target, ["Anger"], "走开")]
    return dialogue(lines, sample_id=f"s{i}", rationale=Rationale("t", visual, "a", "r"))


def test_phrases_by_role_and_back():
    s = sample(0, "B皱眉", target="B")
    t = sample(1, "A皱眉", target="A")
    assert abstract(s, "B皱眉") == abstract(t, "A皱眉") == "{T}皱眉"
    assert abstract(s, "A指着B") == "{O}指着{T}"
    assert render(t, "{T}皱眉看着{O}") == "A皱眉看着B"
    assert scene_line("B皱眉") == "画面：B皱眉\n" and scene_line(None) == ""


def test_frame_input_is_span_mean_and_last():
    s = sample(0, None)
    frames = np.arange(9, dtype=np.float32).reshape(3, 3)
    c = s.emo_change
    got = frame_input(s, frames)
    np.testing.assert_allclose(got[:3], frames[c.start_idx : c.end_idx + 1].mean(0))
    np.testing.assert_allclose(got[3:], frames[c.end_idx])


def test_classifier_learns_a_separable_case_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    samples, frames = [], []
    for i in range(60):
        kind = i % 3  # 0: frown, 1: stare, 2: no visual stimulus; the frames say which
        visual = ["B皱眉", "B瞪大眼睛", None][kind]
        f = rng.normal(scale=0.1, size=(3, 4)).astype(np.float32)
        f[:, kind] += 3.0
        samples.append(sample(i, visual))
        frames.append(f)
    clf = PhraseClassifier.fit(samples[:45], frames[:45], top=5)
    assert sorted(clf.classes) == sorted(["{T}皱眉", "{T}瞪大眼睛", "none"])
    want = [s.rationale.visual for s in samples[45:]]
    assert clf.predict(samples[45:], frames[45:]) == want
    back = PhraseClassifier.load(clf.save(tmp_path / "phrases.json"))
    np.testing.assert_allclose(
        back.probabilities(samples[45:], frames[45:]), clf.probabilities(samples[45:], frames[45:])
    )
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="not a phrase classifier"):
        PhraseClassifier.load(tmp_path / "bad.json")
    with pytest.raises(InputError, match="two classes"):
        PhraseClassifier.fit(samples[2::3], frames[2::3])
