import random
from types import SimpleNamespace

import pytest

from heedful.rationale.eval.metrics import (
    bertscore,
    bleu_counts,
    chars,
    corpus_bleu,
    lcs_length,
    meteor,
    rouge_l,
    text_metrics,
)


def lcs_dp(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_bit_parallel_lcs_equals_dynamic_programming():
    rng = random.Random(0)
    for _ in range(500):
        a = [rng.choice("甲乙丙丁") for _ in range(rng.randint(0, 80))]
        b = [rng.choice("甲乙丙丁") for _ in range(rng.randint(0, 80))]
        assert lcs_length(a, b) == lcs_dp(a, b)


def test_rouge_l_by_hand():
    # LCS of 我很生气了 / 我生气极了 is 我生气了 (4): P = R = 4/5
    assert rouge_l("我很生气了", "我生气极了") == pytest.approx({"p": 0.8, "r": 0.8, "f": 0.8})
    r = rouge_l("A 感到 生气", "A感到生气并且难过")  # spaces are not tokens: LCS 5, P 5/5, R 5/9
    assert r["p"] == 1.0 and r["r"] == pytest.approx(5 / 9) and r["f"] == pytest.approx(2 * (5 / 9) / (1 + 5 / 9))
    assert rouge_l("", "有") == {"p": 0.0, "r": 0.0, "f": 0.0}


def test_bleu4_by_hand():
    # n-gram precisions 4/5, 3/4, 2/3, 1/2, equal lengths: BLEU = (0.2)^(1/4)
    assert corpus_bleu(["甲乙丙丁戊"], ["甲乙丙丁己"]) == pytest.approx(0.2**0.25)
    # all precisions 1, hypothesis 4 vs reference 6 characters: brevity penalty exp(1 - 6/4)
    assert corpus_bleu(["甲乙丙丁"], ["甲乙丙丁戊己"]) == pytest.approx(0.6065306597)
    assert corpus_bleu(["甲乙"], ["甲乙"]) == 0.0  # no 3- or 4-grams at all
    # hypothesis longer than its reference: no brevity penalty, only the precisions 4/6, 3/5, 2/4, 1/3
    assert corpus_bleu(["甲乙丙丁戊己"], ["甲乙丙丁"]) == pytest.approx((4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)
    # corpus level: counts are pooled before the geometric mean
    pooled = corpus_bleu(["甲乙丙丁戊", "甲乙丙丁"], ["甲乙丙丁己", "甲乙丙丁"])
    assert pooled == pytest.approx((8 / 9 * 6 / 7 * 4 / 5 * 2 / 3) ** 0.25)


def test_meteor_by_hand():
    # all 6 characters match in 3 chunks (猫 | 坐 | 在垫子上): Fmean 1, penalty 0.5 (3/6)^3
    assert meteor("猫坐在垫子上", "猫在垫子上坐") == pytest.approx(1 - 0.5 * 0.5**3)
    # 2 matches, P 1, R 1/2: Fmean = 0.5 / (0.9 + 0.05), one chunk: penalty 0.5 (1/2)^3
    assert meteor("好的", "好的呀啊") == pytest.approx(0.5 / 0.95 * (1 - 0.5 * 0.125))
    assert meteor("完全一致", "完全一致") == pytest.approx(1 - 0.5 / 4**3)  # nltk: perfect < 1
    assert meteor("甲", "乙") == 0.0 and meteor("", "乙") == 0.0


def test_meteor_parameters_by_hand():
    # nltk's alpha weighs precision against recall, beta and gamma shape the fragmentation penalty
    # P 1, R 1/2, alpha 0.5: Fmean = 0.5 / (0.5 + 0.25) = 2/3; one chunk of 2: penalty 0.5 (1/2)^3
    assert meteor("好的", "好的呀啊", alpha=0.5) == pytest.approx(2 / 3 * (1 - 0.5 / 8))
    # 3 chunks of 6 matches, beta 1, gamma 1: penalty 3/6
    assert meteor("猫坐在垫子上", "猫在垫子上坐", alpha=0.5, beta=1.0, gamma=1.0) == pytest.approx(0.5)


def test_bleu_refuses_unpaired_lists():
    # text_metrics checks the lengths first, but corpus_bleu is public: a silent truncation would drop samples
    with pytest.raises(ValueError):
        corpus_bleu(["甲乙丙丁", "甲乙丙丁"], ["甲乙丙丁"])
    with pytest.raises(ValueError):
        bleu_counts(["甲"], ["甲", "乙"])


def test_thousand_samples_score_inside_zero_one():
    # the timing of 1,000 samples is benchmarks/library_parity.py's job (docs/benchmarks.md), not a test's
    rng = random.Random(1)
    alphabet = "我你他的了是不在有人这那好很生气难过开心害怕惊讶认为感到觉得因为所以"
    refs = ["".join(rng.choice(alphabet) for _ in range(rng.randint(30, 70))) for _ in range(1000)]
    hyps = ["".join(rng.choice(alphabet) for _ in range(rng.randint(30, 70))) for _ in range(1000)]
    scores = text_metrics(hyps, refs)
    assert scores["n"] == 1000 and all(0 < scores[k] < 1 for k in ("meteor", "rouge_l", "bleu4"))
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        text_metrics(["a", "b"], ["a"])


# --- the libraries' own documented numbers ------------------------------------------------------------------
# sacrebleu, rouge-score and nltk are not dependencies (the bench extra installs them for
# benchmarks/library_parity.py), so their test suites' expected values are pinned here. Their word tokens become
# our character tokens by giving each distinct word one CJK character.


def as_chars(*texts: str) -> list[str]:
    vocab: dict[str, str] = {}
    return ["".join(vocab.setdefault(w, chr(0x4E00 + len(vocab))) for w in t.split()) for t in texts]


def test_meteor_equals_nltks_documented_scores():
    # nltk/test/unit/translate/test_meteor.py: every match there is exact after lower-casing
    hyp, ref = as_chars("this is a test", "this is a test")
    assert meteor(hyp, ref) == 0.9921875
    ref, hyp = as_chars(
        "it is a guide to action that ensures that the military will forever heed party commands",
        "it is a guide to action which ensures that the military always obeys the commands of the party",
    )
    assert round(meteor(hyp, ref), 4) == 0.6944
    hyp, ref = as_chars("x y z", "this is a cat")
    assert meteor(hyp, ref) == 0.0


def test_rouge_l_equals_rouge_scores_documented_scores():
    # rouge/rouge_scorer_test.py (score(target, prediction)): consecutive and non-consecutive LCS, empty prediction
    for target, prediction in [("testing one two", "testing one"), ("testing one two", "testing two")]:
        ref, hyp = as_chars(target, prediction)
        assert rouge_l(hyp, ref) == pytest.approx({"p": 1.0, "r": 2 / 3, "f": 4 / 5})
    assert rouge_l("", as_chars("testing one two")[0]) == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert lcs_length([1, 2, 3, 4, 5], [2, 5, 3, 4]) == 3 and lcs_length([1, 2, 3, 4, 5], [8, 9]) == 0


def test_bleu_equals_sacrebleus_documented_scores():
    # sacrebleu test/test_bleu.py: test_case_statistics, test_offset (no smoothing: 0), test_case_scoring
    hyp, ref = as_chars("am I am a character sequence", "I am a symbol string sequence a a")
    assert bleu_counts([hyp], [ref]) == ([4, 2, 1, 0], [6, 5, 4, 3], 6, 8)
    assert corpus_bleu([hyp], [ref]) == 0.0
    # counts [9, 7, 5, 3] of totals [10, 8, 6, 4], equal lengths: 0.8375922397
    hyps, refs = ["甲乙丙丁戊", "甲乙丙丁戊"], ["甲乙丙丁戊", "甲乙丙丁己"]
    assert bleu_counts(hyps, refs) == ([9, 7, 5, 3], [10, 8, 6, 4], 10, 10)
    assert abs(corpus_bleu(hyps, refs) - 0.8375922397) < 1e-8
    assert corpus_bleu(as_chars("this is a test"), as_chars("this is a test")) == 1.0


def test_chars_drop_whitespace():
    assert chars(" A 感到\t生气\n") == ["A", "感", "到", "生", "气"]


def test_bertscore_with_a_tiny_local_model(tiny_bert):
    same = bertscore(["我很生气。", "他难过了"], ["我很生气。", "他难过了"], str(tiny_bert))
    assert same == pytest.approx({"bertscore_p": 1.0, "bertscore_r": 1.0, "bertscore_f1": 1.0}, abs=1e-5)
    other = bertscore(["我很生气。"], ["猫坐在垫子上呀"], str(tiny_bert), layer=1)
    assert other["bertscore_f1"] < 0.99
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.2"):
        bertscore(["我"], ["我"], str(tiny_bert), layer=5)


def reference_bertscore(model_dir, hyp: str, ref: str, layer: int) -> dict[str, float]:
    """BERTScore of one pair written out directly: states of the non-special tokens, greedy cosine matching."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval()

    def states(text):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc, output_hidden_states=True).hidden_states[layer][0]  # (T, D)
        return torch.nn.functional.normalize(hidden[1:-1], dim=-1)  # drop [CLS] and [SEP]

    sim = states(hyp) @ states(ref).T
    p, r = sim.max(1).values.mean().item(), sim.max(0).values.mean().item()
    return {"bertscore_p": p, "bertscore_r": r, "bertscore_f1": 2 * p * r / (p + r)}


def test_bertscore_of_a_non_identical_pair_by_hand_without_special_tokens(tiny_bert):
    hyp, ref = "我很生气。", "他难过了吗"
    got = bertscore([hyp], [ref], str(tiny_bert), layer=2)
    assert got == pytest.approx(reference_bertscore(tiny_bert, hyp, ref, 2), abs=1e-5)
    assert got["bertscore_p"] != pytest.approx(got["bertscore_r"], abs=1e-4)  # P and R are not swapped unnoticed


def test_bertscore_with_an_empty_hypothesis_scores_zero_for_that_pair(tiny_bert):
    got = bertscore(["", "我很生气。"], ["我很生气。", "我很生气。"], str(tiny_bert))
    assert got == pytest.approx({"bertscore_p": 0.5, "bertscore_r": 0.5, "bertscore_f1": 0.5}, abs=1e-5)


def test_bertscore_needs_a_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        bertscore(["我"], ["我"], str(tmp_path / "absent"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        bertscore(["我"], ["我"], str(tmp_path / "file"))
    with pytest.raises(ValueError, match="not a Hugging Face model folder"):
        bertscore(["我"], ["我"], str(tmp_path))


def test_bertscore_with_an_empty_reference_scores_zero_for_that_pair(tiny_bert):
    got = bertscore(["我很生气。", "我很生气。"], ["", "我很生气。"], str(tiny_bert))
    assert got == pytest.approx({"bertscore_p": 0.5, "bertscore_r": 0.5, "bertscore_f1": 0.5}, abs=1e-5)


VECTORS = {
    "<pad>": [1.0, 1.0, 1.0],
    "甲": [1.0, 0, 0],
    "乙": [0, 1.0, 0],
    "丙": [0, 0, 1.0],
    "丁": [1.0, 1.0, 0],
    "戊": [-1.0, 0, 0],
}


class CharTokenizer:
    """One token per character of ``VECTORS``, no special tokens, right padding."""

    def __call__(self, texts, padding, truncation, max_length, return_tensors, return_special_tokens_mask):
        import torch

        names, width = list(VECTORS), max(len(t) for t in texts)
        ids = torch.tensor([[names.index(c) for c in t] + [0] * (width - len(t)) for t in texts])
        mask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in texts])
        return {"input_ids": ids, "attention_mask": mask, "special_tokens_mask": torch.zeros_like(ids)}


class FixedStates:
    """An encoder whose token states are the ``VECTORS`` rows (layer 0 halves them), so BERTScore's matching can be
    checked by hand; the padding row would change every score if it were matched."""

    config = SimpleNamespace(num_hidden_layers=1)

    def __call__(self, input_ids, attention_mask, output_hidden_states):
        import torch

        states = torch.tensor(list(VECTORS.values()))[input_ids]
        return SimpleNamespace(hidden_states=(states * 0.5, states))


@pytest.fixture
def fixed_states(monkeypatch):
    import heedful.rationale.features.encoders as encoders

    monkeypatch.setattr(encoders, "load_hf_encoder", lambda path, what: (CharTokenizer(), FixedStates()))


def test_bertscore_greedy_matching_by_hand(fixed_states):
    # 甲乙 against 甲: P = mean(1, 0) = 1/2, R = 1, F = 2/3
    got = bertscore(["甲乙"], ["甲"], "fake", per_sample=True)
    assert got.pop("bertscore_f1_per_sample") == [pytest.approx(2 / 3)]
    assert got == pytest.approx({"bertscore_p": 0.5, "bertscore_r": 1.0, "bertscore_f1": 2 / 3})
    # 丁 is (1, 1, 0) / √2: cosine s = 1/√2 with 甲 and with 乙, 0 with 丙. Pair 1: P = s, R = mean(s, s), F = s;
    # pair 2 (丁丙 against 甲): P = mean(s, 0), R = s, F = 2s/3. Layer 0 halves the states, which cosine ignores.
    s = 2**-0.5
    got = bertscore(["丁", "丁丙"], ["甲乙", "甲"], "fake", layer=0)
    assert got == pytest.approx({"bertscore_p": (s + s / 2) / 2, "bertscore_r": s, "bertscore_f1": (s + 2 * s / 3) / 2})


def test_bertscore_of_orthogonal_states_is_zero_not_a_division_by_zero(fixed_states):
    got = bertscore(["乙", "甲"], ["丙", "甲"], "fake", per_sample=True)
    assert got["bertscore_f1_per_sample"] == [0.0, pytest.approx(1.0)]
    assert got["bertscore_f1"] == pytest.approx(0.5)


def test_bertscore_keeps_negative_similarities_like_bert_score(fixed_states):
    # 甲 against 丁戊: P = max(s, -1) = s, R = mean(s, -1) < 0, P + R > 0: F = 2PR / (P + R) < 0, as bert-score has it
    s = 2**-0.5
    p, r = s, (s - 1) / 2
    got = bertscore(["甲"], ["丁戊"], "fake")
    assert got == pytest.approx({"bertscore_p": p, "bertscore_r": r, "bertscore_f1": 2 * p * r / (p + r)})
    assert got["bertscore_f1"] < 0


def test_bertscore_of_no_pairs_is_zero(fixed_states):
    assert bertscore([], [], "fake") == {"bertscore_p": 0.0, "bertscore_r": 0.0, "bertscore_f1": 0.0}


def test_bertscore_batches_and_padding_do_not_change_scores(fixed_states):
    hyps, refs = ["甲", "甲乙丙丁", "乙丙", "丁"], ["甲乙丙", "丙", "甲丁", "乙乙乙乙"]
    whole = bertscore(hyps, refs, "fake", per_sample=True)
    alone = [bertscore([h], [r], "fake")["bertscore_f1"] for h, r in zip(hyps, refs, strict=True)]
    assert whole.pop("bertscore_f1_per_sample") == pytest.approx(alone)
    assert whole == pytest.approx(bertscore(hyps, refs, "fake", batch_size=1))
