import json

import pytest

from heedful.rationale import infer_change, load_demo, load_samples, parse_samples, sample_to_dict
from heedful.rationale.data.schema import Utterance

from ..conftest import MECR, inside_record


def utts(*rows):
    return tuple(Utterance(f"u{i}", f"t{i}", spk, tuple(emo)) for i, (spk, emo) in enumerate(rows))


def test_inferred_change_starts_at_the_run_of_the_previous_emotion():
    u = utts(("A", ["Neutral"]), ("A", ["Neutral"]), ("B", ["Sad"]), ("B", ["Sad"]), ("A", ["Anger"]))
    c = infer_change(u)
    assert (c.start_idx, c.end_idx, c.from_emotion, c.to_emotion, c.inferred) == (0, 4, ("Neutral",), ("Anger",), True)


def test_inferred_change_starts_at_the_last_uninterrupted_block():
    # the annotators' rule: another speaker's turn ends a block (A: Disgust 2, 3 | B 4 | A: Disgust 5 | B 6 | A 7)
    u = utts(
        ("B", ["Neutral"]), ("B", ["Neutral"]), ("A", ["Disgust"]), ("A", ["Disgust"]), ("B", ["Neutral"]),
        ("A", ["Disgust"]), ("B", ["Neutral"]), ("A", ["Neutral"]),
    )  # fmt: skip
    c = infer_change(u)
    assert (c.start_idx, c.end_idx, c.from_emotion, c.to_emotion) == (5, 7, ("Disgust",), ("Neutral",))


def test_inferred_change_skips_utterances_with_the_final_emotion():
    # A: Sad, Sad, Anger, Sad+Anger, Sad+Anger, (B), Sad -> from Sad+Anger, starting at the first of that run (3)
    u = utts(
        ("A", ["Sad"]), ("A", ["Sad"]), ("A", ["Anger"]), ("A", ["Sad", "Anger"]), ("A", ["Anger", "Sad"]),
        ("B", ["Anger"]), ("A", ["Sad"]),
    )  # fmt: skip
    c = infer_change(u)
    assert (c.start_idx, c.end_idx, c.from_emotion, c.to_emotion) == (3, 6, ("Sad", "Anger"), ("Sad",))


def test_inferred_change_without_an_earlier_different_emotion():
    c = infer_change(utts(("A", ["Happy"]), ("B", ["Sad"]), ("A", ["Happy"])))
    assert (c.start_idx, c.end_idx, c.from_emotion, c.to_emotion) == (0, 2, ("Happy",), ("Happy",))
    c = infer_change(utts(("A", ["Happy"]), ("B", ["Sad"])))  # the target speaks once
    assert (c.start_idx, c.end_idx) == (1, 1)


def test_inside_record_with_empty_change_is_inferred_and_explicit_one_is_kept():
    (s,) = parse_samples([inside_record()]).samples
    assert s.emo_change.inferred and (s.emo_change.start_idx, s.emo_change.end_idx) == (0, 2)
    assert s.clip_id == "clips/s1" and s.target_speaker == "A"
    explicit = {"start_idx": 1, "end_idx": 2, "from_emotion": ["Anger"], "to_emotion": ["Sad"]}
    (s,) = parse_samples([inside_record(emo_change=explicit)]).samples
    assert not s.emo_change.inferred and s.emo_change.start_idx == 1


def test_flat_format_parses_lines_and_infers_the_change():
    flat = {
        "dialogue": "A [Neutral]: 在吗？\nB [Happy, Surprise]: 在！你回来了？\nA [Sad]: 嗯，我被辞退了。",
        "rationale": {"stimulus": {"textual": "A被辞退", "visual": None}, "appraisal": "x", "response": "y"},
    }
    (s,) = parse_samples([flat], prefix="train").samples
    assert s.sample_id == "train_0" and [u.speaker for u in s.utterances] == ["A", "B", "A"]
    assert s.utterances[1].emotion == ("Happy", "Surprise") and s.utterances[1].text == "在！你回来了？"
    assert s.emo_change.inferred and s.emo_change.from_emotion == ("Neutral",)


@pytest.mark.parametrize(
    ("change", "edit", "message"),
    [
        (None, lambda r: r.pop("utterances"), "sample s1: missing field utterances"),
        (None, lambda r: r.update(utterances=[]), "sample s1: utterances: empty dialogue"),
        (None, lambda r: r["utterances"][1].update(emotion=["Angry"]), "sample s1: utterances[1].emotion: unknown"),
        (None, lambda r: r["utterances"][0].pop("text"), "sample s1: missing field utterances[0].text"),
        (None, lambda r: r["rationale"].pop("appraisal"), "sample s1: missing field rationale.appraisal"),
        (
            {"start_idx": 0, "end_idx": 3, "from_emotion": ["Neutral"], "to_emotion": ["Sad"]},
            None,
            "emo_change.end_idx: 3",
        ),
        (
            {"start_idx": 2, "end_idx": 1, "from_emotion": ["Neutral"], "to_emotion": ["Sad"]},
            None,
            "start_idx 2 is after",
        ),
    ],
)
def test_invalid_samples_name_the_sample_and_the_field(change, edit, message):
    rec = inside_record(emo_change=change or {})
    if edit:
        edit(rec)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_samples([rec])


def test_skip_invalid_keeps_the_good_samples_and_reports_the_bad():
    bad = {"sample_id": "bad", "dialogue": "A [Neutral]: 你好\nthis line has no label"}
    result = parse_samples([inside_record("ok"), bad], skip_invalid=True)
    assert [s.sample_id for s in result.samples] == ["ok"]
    assert result.errors == ["sample bad: dialogue line 2: expected 'SPEAKER [Emotion,...]: text'"]
    with pytest.raises(ValueError, match="duplicate"):
        parse_samples([inside_record("x"), inside_record("x")])


def test_malformed_json_is_a_one_line_value_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"sample_id": "a",', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken.json: malformed JSON at line 1"):
        load_samples(path)
    with pytest.raises(FileNotFoundError):
        load_samples(tmp_path / "absent.json")


def test_round_trip_through_the_inside_record():
    for s in load_demo()[:10]:
        (back,) = parse_samples([sample_to_dict(s)]).samples
        assert back.utterances == s.utterances and back.rationale == s.rationale
        assert back.emo_change.start_idx == s.emo_change.start_idx and back.clip_id == s.clip_id


def test_demo_set_is_complete_and_varied():
    demo = load_demo()
    assert 40 <= len(demo) <= 80
    assert all(s.rationale and s.rationale.appraisal and s.rationale.response for s in demo)
    assert sum(s.emo_change.inferred for s in demo) >= 5  # some records leave emo_change empty
    assert sum(s.rationale.visual is not None for s in demo) >= 5
    assert len({s.clip_id for s in demo}) < len(demo)  # some clips hold several change events
    emotions = {e for s in demo for u in s.utterances for e in u.emotion}
    assert emotions == {"Neutral", "Anger", "Sad", "Happy", "Disgust", "Surprise", "Fear"}
    assert any(s.emo_change.end_idx < len(s.utterances) - 1 for s in demo)
    assert any(len(s.speakers) > 2 for s in demo)


def test_inference_agrees_with_the_annotated_format_examples(mecr):
    examples = load_samples(mecr / "format_examples.json").samples
    raw = json.loads((MECR / "format_examples.json").read_text(encoding="utf-8"))
    for s, rec in zip(examples, raw, strict=True):
        c = infer_change(s.utterances, s.sample_id)
        annotated = rec["emo_change"]
        assert (c.start_idx, c.end_idx) == (annotated["start_idx"], annotated["end_idx"])
        assert list(c.from_emotion) == annotated["from_emotion"] and list(c.to_emotion) == annotated["to_emotion"]


def test_research_training_data_loads(mecr):
    samples = load_samples(mecr / "train.json").samples
    assert len(samples) == 2892
    assert sum(s.rationale.visual is not None for s in samples) == 754
    assert max(len(s.utterances) for s in samples) == 40
