"""Visual-part scores, repeated spans and the paired comparison, on hand-computed cases."""

import pytest

from heedful.rationale.data.schema import Rationale
from heedful.rationale.eval.metrics import meteor, rouge_l
from heedful.rationale.eval.score import evaluate, paired_against
from heedful.rationale.eval.visual_part import repeat_share, repeats_span, visual_of, visual_part_scores

from ..conftest import dialogue


def ref(visual):
    return Rationale("A说了话", visual, "B觉得不好", "B生气")


def test_visual_of_reads_the_part_after_the_semicolon():
    assert visual_of("A说了话；B皱眉。B觉得不好。B生气。") == "B皱眉"
    assert visual_of("A说了话。B觉得不好。B生气。") == ""


def test_visual_part_scores_by_hand():
    hyps = [
        "A说了话；B皱眉。评价。反应。",  # visual reference, visual part exact
        "A说了话。评价。反应。",  # visual reference, none generated: 0
        "A说了话；B低头。评价。反应。",  # no visual reference: a false emission
        "A说了话。评价。反应。",  # no visual reference, none: correct
    ]
    refs = [ref("B皱眉"), ref("B瞪大眼睛"), ref(None), ref(None)]
    got = visual_part_scores(hyps, refs)
    assert got["n_visual_refs"] == 2 and got["n_visual_generated"] == 2
    assert got["visual_rouge_l"] == pytest.approx(0.5) and got["visual_meteor"] == pytest.approx(
        meteor("B皱眉", "B皱眉") / 2, abs=1e-4
    )
    # one true positive of two emitted, one of two wanted
    assert got["visual_precision"] == 0.5 and got["visual_recall"] == 0.5 and got["visual_f1"] == 0.5
    assert got["per_sample"]["visual_rouge_l"] == [1.0, 0.0]
    partial = visual_part_scores(["X；B皱着眉头。Y。Z。"], [ref("B皱眉")])
    assert partial["visual_rouge_l"] == pytest.approx(round(rouge_l("B皱着眉头", "B皱眉")["f"], 4))


def test_repeated_spans():
    assert repeats_span("A觉得B的儿子再回老家，觉得B的儿子再回老家")
    assert not repeats_span("A觉得B的儿子再回老家。")
    assert not repeats_span("觉得B的儿")  # shorter than the span
    assert repeats_span("哈哈哈哈哈哈哈")  # overlapping copies count
    assert repeat_share(["abcdefabcdef", "abcdefg", "x"]) == pytest.approx(0.3333)


def test_evaluate_reports_the_visual_part_and_paired_differences():
    a = dialogue([("A", ["Neutral"], "你好"), ("B", ["Anger"], "走开")], sample_id="a", rationale=ref("B皱眉"))
    b = dialogue([("A", ["Neutral"], "你好"), ("B", ["Happy"], "好")], sample_id="b", rationale=ref(None))
    refs = {"a": a, "b": b}
    good = [
        {"sample_id": "a", "text": "A说了话；B皱眉。B觉得不好。B生气。"},
        {"sample_id": "b", "text": "A说了话。B觉得不好。B生气。"},
    ]
    bad = [
        {"sample_id": "a", "text": "A说了话。B觉得不好。B生气。"},
        {"sample_id": "b", "text": "A说了话。B觉得不好。B生气。"},
    ]
    metrics = evaluate(good, refs)
    assert metrics["visual_rouge_l"] == 1.0 and metrics["visual_f1"] == 1.0 and metrics["repeat6_share"] == 0.0
    paired = paired_against(good, bad, refs, rounds=50)
    assert paired["n"] == 2 and paired["n_visual"] == 1
    assert paired["visual_rouge_l"]["mean"] == 1.0 and paired["rouge_l"]["mean"] > 0
