"""Repetition control on generated tokens only: the prompt may be quoted, the rationale may not loop."""

import torch

from heedful.rationale.lm.config import GenerateConfig
from heedful.rationale.lm.repeats import GeneratedRepeats


def test_no_repeat_ngram_bans_only_what_the_generated_part_repeats():
    # prompt [5, 6, 7] (width 3), generated [1, 2, 3, 1, 2]: the 3-gram (1, 2, 3) would repeat -> 3 banned
    ids = torch.tensor([[5, 6, 7, 1, 2, 3, 1, 2]])
    scores = torch.zeros(1, 10)
    out = GeneratedRepeats(3, 1.0, start=3)(ids, scores.clone())
    assert out[0, 3] == -float("inf") and torch.isfinite(out[0, [0, 1, 2, 4, 5, 6, 7, 8, 9]]).all()
    # the prompt's own n-grams are not banned: (6, 7) -> 1 would repeat the prompt's... nothing is banned here
    ids = torch.tensor([[1, 2, 3, 1, 2]])
    assert torch.isfinite(GeneratedRepeats(3, 1.0, start=3)(ids, torch.zeros(1, 10))).all()
    # HF's rule, over the whole sequence, would have banned 3
    assert GeneratedRepeats(3, 1.0, start=0)(ids, torch.zeros(1, 10))[0, 3] == -float("inf")


def test_repetition_penalty_scales_generated_tokens_only():
    ids = torch.tensor([[4, 4, 2]])  # prompt [4, 4], generated [2]
    scores = torch.tensor([[1.0, 1.0, 2.0, -2.0, 3.0]])
    out = GeneratedRepeats(0, 2.0, start=2)(ids, scores.clone())
    assert out.tolist() == [[1.0, 1.0, 1.0, -2.0, 3.0]]  # token 2 halved; prompt token 4 untouched
    out = GeneratedRepeats(0, 2.0, start=0)(torch.tensor([[3]]), scores.clone())
    assert out[0, 3] == -4.0  # a negative logit is multiplied, so the penalty always lowers it


def test_config_flag():
    assert not GenerateConfig(no_repeat_ngram=0).controls_repeats and GenerateConfig().controls_repeats
    assert (
        GenerateConfig(no_repeat_ngram=4).controls_repeats and GenerateConfig(repetition_penalty=1.2).controls_repeats
    )
