"""Typed records for the MECR / INSIDE format: utterances, the emotion change and its rationale.

Pure Python (no torch): validation raises ``ValueError`` whose message names the sample id and the field, so the CLI
can print it as one line. ``EmoChange.inferred`` marks a change filled in from the dialogue when the data left it
empty (the change ends at the last utterance; its speaker is the target; ``from`` is that speaker's previous
different emotion, and the change starts at the first utterance of that emotion's latest run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from heedful.errors import InputError

EMOTIONS: tuple[str, ...] = ("Neutral", "Anger", "Sad", "Happy", "Disgust", "Surprise", "Fear")
EMOTION_INDEX = {name: i for i, name in enumerate(EMOTIONS)}


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    text: str
    speaker: str
    emotion: tuple[str, ...]
    start_sec: float | None = None
    end_sec: float | None = None


@dataclass(frozen=True)
class EmoChange:
    start_idx: int
    end_idx: int
    from_emotion: tuple[str, ...]
    to_emotion: tuple[str, ...]
    inferred: bool = False


@dataclass(frozen=True)
class Rationale:
    textual: str
    visual: str | None
    appraisal: str
    response: str

    def to_dict(self) -> dict:
        """The INSIDE ``rationale`` object."""
        return {
            "stimulus": {"textual": self.textual, "visual": self.visual},
            "appraisal": self.appraisal,
            "response": self.response,
        }

    @classmethod
    def from_dict(cls, obj: dict) -> Rationale:
        """Back from ``to_dict`` (files heedful wrote; user files go through ``loaders.parse_rationale``)."""
        return cls(obj["stimulus"]["textual"], obj["stimulus"]["visual"], obj["appraisal"], obj["response"])


@dataclass(frozen=True)
class Sample:
    sample_id: str
    utterances: tuple[Utterance, ...]
    emo_change: EmoChange
    rationale: Rationale | None = None
    clip_id: str | None = None  # samples of one dialogue clip share it (see ``heedful.rationale.data.split``)
    video_path: str | None = None
    key_frames: tuple[str, ...] = field(default_factory=tuple)
    item: int | None = None  # position of the record in its file (the flat format's visual rows follow it)
    flat: bool = False  # read from the flat format (``dialogue`` lines): its utterance ids are made up

    @property
    def target_speaker(self) -> str:
        return self.utterances[self.emo_change.end_idx].speaker

    @property
    def speakers(self) -> tuple[str, ...]:
        """Speakers in order of first appearance."""
        return tuple(dict.fromkeys(u.speaker for u in self.utterances))


def show(value, limit: int = 80) -> str:
    """``repr`` of a value from a user's file, cut to ``limit`` characters: safe inside a one-line message."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"a deeply nested {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str) -> str:
    """``text`` itself when it prints on one line, else its escaped ``show`` form (ids read from users' files)."""
    return text if text.isprintable() else show(text)


def check_emotions(labels, sample_id: str, where: str) -> tuple[str, ...]:
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, (list, tuple)) or not labels:
        raise InputError(f"sample {sample_id}: {where} must be a non-empty list of emotions, got {show(labels)}")
    for label in labels:
        if not isinstance(label, str):
            raise InputError(f"sample {sample_id}: {where}: each emotion must be a string, got {show(label)}")
        if label not in EMOTION_INDEX:
            raise InputError(
                f"sample {sample_id}: {where}: unknown emotion {show(label)} (expected one of {', '.join(EMOTIONS)})"
            )
    return tuple(labels)


def infer_change(utterances: tuple[Utterance, ...], sample_id: str = "?") -> EmoChange:
    """The change that ends at the last utterance: its speaker's previous different emotion → the last emotion.

    ``start_idx`` is the first utterance of the target's last uninterrupted block of that previous emotion: the
    block ends where another speaker's turn (or a different emotion) comes before it, as the annotators mark it
    (A: Disgust at 2, 3, B at 4, A: Disgust at 5, B at 6, A: Neutral at 7 → start 5). If the target never felt
    otherwise, the change starts at their first utterance and ``from`` equals ``to``.
    """
    if not utterances:
        raise InputError(f"sample {sample_id}: utterances: empty dialogue")
    end = len(utterances) - 1
    target, to_emotion = utterances[end].speaker, set(utterances[end].emotion)
    own = [i for i in range(end) if utterances[i].speaker == target]
    before = [i for i in own if set(utterances[i].emotion) != to_emotion]
    if not before:
        start = own[0] if own else end
        return EmoChange(start, end, utterances[end].emotion, utterances[end].emotion, inferred=True)
    last = before[-1]
    from_emotion = utterances[last].emotion
    start = last
    while (
        start > 0
        and utterances[start - 1].speaker == target
        and set(utterances[start - 1].emotion) == set(from_emotion)
    ):
        start -= 1  # walk back over the block; another speaker's turn ends it
    return EmoChange(start, end, utterances[start].emotion, utterances[end].emotion, inferred=True)


def validate_change(change: EmoChange, n_utterances: int, sample_id: str) -> None:
    for name in ("start_idx", "end_idx"):
        value = getattr(change, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < n_utterances:
            raise InputError(
                f"sample {sample_id}: emo_change.{name}: {value!r} out of range for {n_utterances} utterances"
            )
    if change.start_idx > change.end_idx:
        raise InputError(
            f"sample {sample_id}: emo_change: start_idx {change.start_idx} is after end_idx {change.end_idx}"
        )
