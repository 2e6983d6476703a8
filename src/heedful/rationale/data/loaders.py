"""Loaders for the two MECR formats, both as a JSON list of samples.

* INSIDE (full): ``sample_id``, ``utterances[{utt_id, text, speaker, start_sec, end_sec, emotion[]}]``,
  ``emo_change{start_idx, end_idx, from_emotion, to_emotion}`` (may be empty), ``key_frames``, ``rationale``.
* flat (training): ``dialogue`` = lines ``"SPEAKER [Emotion,...]: text"`` (the change ends at the last line) and
  ``rationale``; samples get the id ``<file stem>_<index>`` unless they carry a ``sample_id``.

Every problem is a ``ValueError`` naming the sample and the field. ``load_samples(..., skip_invalid=True)`` keeps
going and returns the problems next to the good samples.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from heedful.errors import InputError
from heedful.rationale.data.schema import (
    EmoChange,
    Rationale,
    Sample,
    Utterance,
    check_emotions,
    infer_change,
    printable,
    show,
    validate_change,
)
from heedful.rationale.data.split import assign_clips
from heedful.runs import read_json, require_file

log = logging.getLogger(__name__)
LINE = re.compile(r"^\s*(?P<speaker>[^\[\]:：]+?)\s*\[(?P<emotion>[^\]]*)\]\s*[:：]\s?(?P<text>.*)$")


@dataclass
class LoadResult:
    samples: list[Sample]
    errors: list[str] = field(default_factory=list)  # one line per skipped sample


def _get(obj: dict, key: str, sample_id: str, where: str = "", types=(str,)):
    if not isinstance(obj, dict):
        raise InputError(f"sample {sample_id}: {where or 'sample'} must be an object, got {type(obj).__name__}")
    if key not in obj:
        raise InputError(f"sample {sample_id}: missing field {where + '.' if where else ''}{key}")
    value = obj[key]
    if types and not isinstance(value, types):
        names = "/".join(t.__name__ for t in types)
        raise InputError(f"sample {sample_id}: field {where + '.' if where else ''}{key} must be {names}")
    return value


def parse_rationale(obj, sample_id: str) -> Rationale | None:
    if obj is None:
        return None
    stimulus = _get(obj, "stimulus", sample_id, "rationale", (dict,))
    textual = _get(stimulus, "textual", sample_id, "rationale.stimulus", (str, type(None))) or ""
    visual = (
        _get(stimulus, "visual", sample_id, "rationale.stimulus", (str, type(None))) if "visual" in stimulus else None
    )
    return Rationale(
        textual=textual.strip(),
        visual=(visual or "").strip() or None,
        appraisal=_get(obj, "appraisal", sample_id, "rationale").strip(),
        response=_get(obj, "response", sample_id, "rationale").strip(),
    )


def _parse_change(obj, utterances: tuple[Utterance, ...], sample_id: str) -> EmoChange:
    if not isinstance(obj, dict | None):
        raise InputError(f"sample {sample_id}: emo_change must be an object, got {type(obj).__name__}")
    if not obj:  # missing, null or {}: infer and mark
        return infer_change(utterances, sample_id)
    start = _get(obj, "start_idx", sample_id, "emo_change", (int,))
    end = _get(obj, "end_idx", sample_id, "emo_change", (int,))
    change = EmoChange(
        start,
        end,
        check_emotions(_get(obj, "from_emotion", sample_id, "emo_change", None), sample_id, "emo_change.from_emotion"),
        check_emotions(_get(obj, "to_emotion", sample_id, "emo_change", None), sample_id, "emo_change.to_emotion"),
    )
    validate_change(change, len(utterances), sample_id)
    return change


def _parse_utterance(obj, i: int, sample_id: str) -> Utterance:
    where = f"utterances[{i}]"
    if not isinstance(obj, dict):
        raise InputError(f"sample {sample_id}: {where} must be an object, got {type(obj).__name__}")
    speaker = _get(obj, "speaker", sample_id, where).strip()
    if not speaker:
        raise InputError(f"sample {sample_id}: field {where}.speaker is empty")
    if not speaker.isprintable():  # a zero-width space would make a second, invisible speaker
        raise InputError(f"sample {sample_id}: field {where}.speaker holds invisible characters: {show(speaker)}")
    times = [_seconds(obj.get(key), sample_id, f"{where}.{key}") for key in ("start_sec", "end_sec")]
    if times[0] is not None and times[0] < 0:
        raise InputError(f"sample {sample_id}: field {where}.start_sec is negative ({times[0]:g})")
    if None not in times and times[1] < times[0]:
        raise InputError(f"sample {sample_id}: field {where}.end_sec {times[1]:g} is before start_sec {times[0]:g}")
    utt_id = _get(obj, "utt_id", sample_id, where, (str, int)) if "utt_id" in obj else f"{sample_id}_{i + 1}"
    if isinstance(utt_id, bool):  # a bool is an int to Python: true would become the id "True"
        raise InputError(f"sample {sample_id}: field {where}.utt_id must be a string or an integer, got {utt_id}")
    return Utterance(
        utt_id=str(utt_id),
        text=_get(obj, "text", sample_id, where),
        speaker=speaker,
        emotion=check_emotions(_get(obj, "emotion", sample_id, where, None), sample_id, where + ".emotion"),
        start_sec=times[0],
        end_sec=times[1],
    )


def _seconds(value, sample_id: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # a JSON integer beyond float range
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise InputError(f"sample {sample_id}: field {where} must be a finite number, got {show(value)}")


def _sample_id(obj, default: str) -> str:
    """The record's own id (a string or integer of printable characters), else ``default``."""
    value = obj.get("sample_id") if isinstance(obj, dict) else None
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"sample {default}: field sample_id must be a string or an integer, got {show(value)}")
    text = str(value)
    if not text.strip() or not text.isprintable():
        raise InputError(f"sample {default}: field sample_id must be printable text, got {show(value)}")
    if text != text.strip():  # "a" and "a " would be two samples that no one can tell apart
        raise InputError(f"sample {default}: field sample_id {show(value)} starts or ends with spaces")
    return text


def _key_frames(obj, sample_id: str) -> tuple[str, ...]:
    frames = obj.get("key_frames")
    if frames is None:
        return ()
    if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
        raise InputError(f"sample {sample_id}: field key_frames must be a list of strings")
    return tuple(frames)


def _clip_of(obj: dict, utterances: tuple[Utterance, ...]) -> str | None:
    """The clip, when the INSIDE record says it: the video file, else a common utt_id prefix (``anjia_1_3``)."""
    video = obj.get("video_path")
    if isinstance(video, str) and video.strip():
        path = Path(video)
        return (path.with_suffix("") if path.name else path).as_posix()
    stems = {u.utt_id.rsplit("_", 1)[0] for u in utterances if "_" in u.utt_id}
    return stems.pop() if len(stems) == 1 and all("_" in u.utt_id for u in utterances) else None


def sample_from_inside(obj, index: int) -> Sample:
    sample_id = _sample_id(obj, f"#{index}")
    raw = _get(obj, "utterances", sample_id, "", (list,))
    if not raw:
        raise InputError(f"sample {sample_id}: utterances: empty dialogue")
    utterances = tuple(_parse_utterance(u, i, sample_id) for i, u in enumerate(raw))
    video = obj.get("video_path")
    if not isinstance(video, str | None):
        raise InputError(f"sample {sample_id}: field video_path must be a string or null")
    return Sample(
        sample_id=sample_id,
        utterances=utterances,
        emo_change=_parse_change(obj.get("emo_change"), utterances, sample_id),
        rationale=parse_rationale(obj.get("rationale"), sample_id),
        clip_id=_clip_of(obj, utterances),
        video_path=video,
        key_frames=_key_frames(obj, sample_id),
        item=index,
    )


def parse_dialogue(text: str, sample_id: str) -> tuple[Utterance, ...]:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"sample {sample_id}: dialogue: empty dialogue")
    utterances = []
    for i, line in enumerate(lines):
        m = LINE.match(line)
        if not m or not m["speaker"].strip():
            raise InputError(f"sample {sample_id}: dialogue line {i + 1}: expected 'SPEAKER [Emotion,...]: text'")
        labels = [e.strip() for e in m["emotion"].split(",") if e.strip()]
        emotion = check_emotions(labels, sample_id, f"dialogue line {i + 1} emotion")
        utterances.append(Utterance(f"{sample_id}_{i + 1}", m["text"].strip(), m["speaker"].strip(), emotion))
    return tuple(utterances)


def sample_from_flat(obj, index: int, prefix: str) -> Sample:
    sample_id = _sample_id(obj, f"{prefix}_{index}")
    utterances = parse_dialogue(_get(obj, "dialogue", sample_id), sample_id)
    return Sample(
        sample_id=sample_id,
        utterances=utterances,
        emo_change=infer_change(utterances, sample_id),
        rationale=parse_rationale(obj.get("rationale"), sample_id),
        item=index,
        flat=True,
    )


def parse_samples(items, prefix: str = "sample", skip_invalid: bool = False) -> LoadResult:
    """Samples from already-decoded JSON (a list of INSIDE or flat records; the two may be mixed)."""
    if not isinstance(items, list):
        raise InputError(f"{prefix}: expected a JSON list of samples, got {type(items).__name__}")
    result, seen = LoadResult([]), set()
    for i, obj in enumerate(items):
        try:
            if isinstance(obj, dict) and "dialogue" in obj and "utterances" not in obj:
                sample = sample_from_flat(obj, i, prefix)
            else:
                sample = sample_from_inside(obj, i)
            if sample.sample_id in seen:
                raise InputError(f"sample {sample.sample_id}: sample_id: duplicate id")
            seen.add(sample.sample_id)
            result.samples.append(sample)
        except InputError as err:
            if not skip_invalid:
                raise
            result.errors.append(str(err))
    _warn_odd_changes(result.samples, prefix)
    result.samples = assign_clips(result.samples)
    return result


def _odd_change(sample: Sample) -> str | None:
    """What is unusual about an annotated change: it spans two speakers, or its emotions are not the labels of the
    utterances it starts and ends at. The data may hold such annotations, so they load, with one warning."""
    c, utts = sample.emo_change, sample.utterances
    first, last = utts[c.start_idx], utts[c.end_idx]
    if c.inferred:
        return None
    if first.speaker != last.speaker:
        return f"starts on {first.speaker}'s utterance and ends on {last.speaker}'s"
    for name, labels, i in (("to_emotion", c.to_emotion, c.end_idx), ("from_emotion", c.from_emotion, c.start_idx)):
        if set(labels) != set(utts[i].emotion):
            return f"{name} {list(labels)} is not the label of utterance {i} {list(utts[i].emotion)}"
    return None


def _warn_odd_changes(samples: list[Sample], where: str) -> None:
    odd = [(s.sample_id, why) for s in samples if (why := _odd_change(s)) is not None]
    if odd:
        first, why = odd[0]
        log.warning("%s: %d sample(s) with an unusual emotion change, loaded as annotated (first: sample %s: %s)",
                    where, len(odd), printable(first), why)  # fmt: skip


def load_samples(path: str | Path, skip_invalid: bool = False) -> LoadResult:
    path = require_file(path, "data file")
    items = read_json(path)
    if not isinstance(items, list):
        raise InputError(f"{path}: expected a JSON list of samples, got {type(items).__name__}")
    return parse_samples(items, prefix=path.stem, skip_invalid=skip_invalid)


def demo_path() -> Path:
    return Path(str(resources.files("heedful.rationale") / "data" / "demo.json"))


def load_demo() -> list[Sample]:
    """The embedded demo set: short Chinese dialogues written for this project, INSIDE format."""
    return load_samples(demo_path()).samples


def sample_to_dict(sample: Sample) -> dict:
    """The INSIDE record of a sample (an inferred change is written out explicitly)."""
    out = {"sample_id": sample.sample_id}
    if sample.video_path:
        out["video_path"] = sample.video_path
    out["utterances"] = [
        {"utt_id": u.utt_id, "text": u.text, "speaker": u.speaker, "start_sec": u.start_sec, "end_sec": u.end_sec}
        | {"emotion": list(u.emotion)}
        for u in sample.utterances
    ]
    out["key_frames"] = list(sample.key_frames)
    c = sample.emo_change
    out["emo_change"] = {
        "start_idx": c.start_idx,
        "end_idx": c.end_idx,
        "from_emotion": list(c.from_emotion),
        "to_emotion": list(c.to_emotion),
    }
    if sample.rationale is not None:
        out["rationale"] = sample.rationale.to_dict()
    return out
