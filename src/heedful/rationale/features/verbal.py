"""Verbalised video: the plain alternative to cross-attention on the frames.

A small classifier maps a dialogue's frame features to one of the frequent visual-stimulus phrases of the training
rationales (or to "none"), and its phrase can go into the prompt as text (``画面：B皱眉``). It answers whether the
video needs cross-attention, or just words.

Phrases are stored with the speakers abstracted by role (``{T}`` the changing speaker, ``{O}`` another one), so
``B皱眉`` in one dialogue and ``A皱眉`` in another are one class when both name the changing speaker. Input: the mean
frame over the change span next to the frame of the last utterance (where the change lands). The classifier is a
multinomial logistic regression (scikit-learn), stored as JSON (no pickle).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.rationale.data.prompt import SCENE
from heedful.rationale.data.schema import Sample
from heedful.runs import atomic_write

NONE = "none"
PHRASES = "phrases.json"  # a run's classifier (rationale train --scene-line)
TARGET, OTHER = "{T}", "{O}"


def abstract(sample: Sample, phrase: str) -> str:
    """The phrase with speaker letters replaced by their role in ``sample``."""
    out = []
    for ch in phrase:
        if ch in sample.speakers:
            out.append(TARGET if ch == sample.target_speaker else OTHER)
        else:
            out.append(ch)
    return "".join(out)


def render(sample: Sample, phrase: str) -> str:
    """Back to letters: ``{T}`` is the changing speaker, ``{O}`` the first other speaker."""
    others = [s for s in sample.speakers if s != sample.target_speaker]
    return phrase.replace(TARGET, sample.target_speaker).replace(OTHER, others[0] if others else "B")


def frame_input(sample: Sample, frames: np.ndarray) -> np.ndarray:
    """(2·D,): mean frame over the change span | frame of the change's last utterance."""
    c = sample.emo_change
    return np.concatenate([frames[c.start_idx : c.end_idx + 1].mean(0), frames[c.end_idx]]).astype(np.float32)


class PhraseClassifier:
    def __init__(self, classes: list[str], coef: np.ndarray, intercept: np.ndarray):
        self.classes, self.coef, self.intercept = classes, coef, intercept

    @classmethod
    def fit(cls, samples: list[Sample], frames: list[np.ndarray], top: int = 24, c: float = 1.0, seed: int = 0):
        """Classes: the ``top`` most frequent abstracted phrases of the samples' references, and ``none`` (no visual
        stimulus, or a rare one)."""
        from sklearn.linear_model import LogisticRegression

        labelled = [(s, f) for s, f in zip(samples, frames, strict=True) if s.rationale is not None]
        if len(labelled) < 2:
            raise InputError(f"the phrase classifier needs samples with rationales, got {len(labelled)}")
        phrases = [abstract(s, s.rationale.visual) if s.rationale.visual else NONE for s, _ in labelled]
        keep = {p for p, _ in Counter(p for p in phrases if p != NONE).most_common(top)}
        y = [p if p in keep else NONE for p in phrases]
        if len(set(y)) < 2:
            raise InputError("the phrase classifier needs at least two classes (no visual stimulus in the data?)")
        x = np.stack([frame_input(s, f) for s, f in labelled])
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y)
        return cls(list(model.classes_), model.coef_.astype(np.float32), model.intercept_.astype(np.float32))

    @property
    def dim(self) -> int:
        """The per-utterance frame dimension the classifier reads."""
        return self.coef.shape[1] // 2

    def probabilities(self, samples: list[Sample], frames: list[np.ndarray]) -> np.ndarray:
        x = np.stack([frame_input(s, f) for s, f in zip(samples, frames, strict=True)])
        logits = x @ self.coef.T + self.intercept
        if logits.shape[1] == 1:  # scikit-learn's binary case: one column for the second class
            logits = np.concatenate([np.zeros_like(logits), logits], 1)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict(self, samples: list[Sample], frames: list[np.ndarray]) -> list[str | None]:
        """The rendered phrase per sample, or None where ``none`` wins."""
        best = self.probabilities(samples, frames).argmax(1)
        return [
            None if self.classes[b] == NONE else render(s, self.classes[b]) for s, b in zip(samples, best, strict=True)
        ]

    @classmethod
    def cross_fit(
        cls, samples: list[Sample], frames: list[np.ndarray], folds: int = 5, seed: int = 0, **fit_kw
    ) -> list[str | None]:
        """Each sample's phrase from a classifier that never saw it (``folds``-fold): the training prompts then get
        lines as good as the ones unseen dialogues get, not the memorised ones of the classifier's own data."""
        order = np.random.default_rng(seed).permutation(len(samples))
        out: list[str | None] = [None] * len(samples)
        for k in range(folds):
            held = set(order[k::folds].tolist())
            if not held:
                continue
            fit_on = [i for i in range(len(samples)) if i not in held]
            model = cls.fit([samples[i] for i in fit_on], [frames[i] for i in fit_on], seed=seed, **fit_kw)
            idx = sorted(held)
            for i, phrase in zip(idx, model.predict([samples[i] for i in idx], [frames[i] for i in idx]), strict=True):
                out[i] = phrase
        return out

    def save(self, path: str | Path) -> Path:
        state = {"classes": self.classes, "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}
        return atomic_write(Path(path), lambda p: Path(p).write_text(json.dumps(state, ensure_ascii=False)))

    @classmethod
    def load(cls, path: str | Path) -> PhraseClassifier:
        try:
            state = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(
                state["classes"], np.asarray(state["coef"], np.float32), np.asarray(state["intercept"], np.float32)
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(f"{path}: not a phrase classifier ({type(err).__name__})") from None


def scene_line(phrase: str | None) -> str:
    """The prompt line that verbalises the video (empty without a phrase)."""
    return f"{SCENE}{phrase}\n" if phrase else ""
