import math

import numpy as np
import pytest
import torch

from heedful.errors import InputError
from heedful.explain import Explainable, FaithfulnessConfig, measure_faithfulness
from heedful.explain.perturb import counts, delete, keep_only, top_k_mask


def planted(kind: str = "classification", step: int = 3, attend: int | None = None, seq2seq: bool = False):
    """A model whose output depends on channel 0 at one step only; its attention sits on ``attend`` (default: that
    step). Classification: logits (v, -v); regression: (v, 2v)."""

    def forward(x, lengths):
        v = 4 * x[:, step, 0]
        out = torch.stack([v, -v], 1) if kind == "classification" else torch.stack([v, 2 * v], 1)
        att = torch.full(x.shape[:2], 0.01)
        att[:, step if attend is None else attend] = 1.0
        att = att / att.sum(1, keepdim=True)
        return out, (att[:, None].expand(-1, 5, -1) if seq2seq else att)

    return Explainable(forward, kind)


def inputs(n=64, t=20, c=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, t, c)).astype(np.float32) + 1.0


FAST = dict(ig_steps=8, random_repeats=2, max_samples=64)


def test_counts_round_up_and_remove_at_least_one_step():
    assert counts(torch.tensor([40, 40, 7]), 0.1).tolist() == [4, 4, 1]  # 0.1 * 40 is 4, not 5
    assert counts(torch.tensor([3]), 0.01).tolist() == [1]
    assert counts(torch.tensor([10]), 1.0).tolist() == [10]


def test_top_k_never_picks_padding_and_removal_leaves_padding_alone():
    scores = torch.tensor([[0.1, 0.9, 0.5, 5.0], [0.3, 0.2, 0.1, 0.0]])
    lengths = torch.tensor([3, 4])
    mask = top_k_mask(scores, lengths, 0.5)  # 2 of 3 valid steps (ceil 1.5), 2 of 4
    assert mask.tolist() == [[False, True, True, False], [True, True, False, False]]
    tied = top_k_mask(torch.zeros(1, 40), torch.tensor([40]), 0.25)
    assert tied.sum() == 10 and not tied[0, :10].all()  # ties: not simply the first steps
    x = torch.ones(2, 4, 1)
    x[0, 3] = 0.0  # padding
    assert delete(x, mask)[..., 0].tolist() == [[1, 0, 0, 0], [0, 0, 1, 1]]
    assert keep_only(x, mask, lengths)[..., 0].tolist() == [[0, 1, 1, 0], [1, 1, 0, 0]]


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_attention_on_the_decisive_step_is_faithful(kind):
    r = measure_faithfulness(planted(kind), inputs(), config=FaithfulnessConfig(**FAST))
    head = r["headline"]
    # 10% of 20 steps = 2: attention always removes the decisive step, a random 2 of 20 only 10% of the time
    assert head["attention"] > 0 and head["attention_vs_random"] > 5
    assert r["auc"]["attention"]["deletion"] > r["auc"]["random"]["deletion"]
    assert r["auc"]["attention"]["insertion"] < r["auc"]["random"]["insertion"]
    assert r["eraser"]["attention"]["sufficiency"]["0.05"] == pytest.approx(0.0, abs=1e-6)  # the step alone suffices
    # Captum finds the same step: top-10% sets overlap fully
    assert r["rank_agreement"]["integrated_gradients"]["top_0.1_overlap"] == 1.0
    assert head["integrated_gradients_vs_random"] == pytest.approx(head["attention_vs_random"])
    assert r["fractions"][0] == 0.0 and r["curves"]["attention"]["deletion"][0] == 0.0
    assert r["curves"]["attention"]["insertion"][-1] == pytest.approx(0.0, abs=1e-6)  # everything kept


def test_attention_elsewhere_is_unfaithful_and_gradients_say_so():
    cfg = FaithfulnessConfig(headline_fraction=0.05, **FAST)  # one step of 20
    r = measure_faithfulness(planted(attend=12), inputs(), config=cfg)
    assert r["headline"]["attention"] == pytest.approx(0.0, abs=1e-6)
    assert r["headline"]["integrated_gradients"] > 0.1
    assert r["rank_agreement"]["integrated_gradients"]["top_0.05_overlap"] == 0.0
    assert r["attention_mass_in_top"] > 0.8  # concentrated, and still unfaithful: concentration is not faithfulness


def test_seq2seq_attention_is_averaged_over_output_steps_and_padding_is_respected():
    x, lengths = inputs(n=16, t=10), np.array([10, 6] * 8)
    r = measure_faithfulness(planted("regression", seq2seq=True), x, lengths, FaithfulnessConfig(**FAST))
    assert r["kind"] == "regression" and r["samples"] == 16 and r["headline"]["attention_vs_random"] > 1


def test_per_class_breakdown_and_subset():
    r = measure_faithfulness(
        planted(), inputs(n=100), config=FaithfulnessConfig(**{**FAST, "max_samples": 40}), class_names=["a", "b"]
    )
    assert r["samples"] == 40 and r["of_samples"] == 100
    assert sum(c["samples"] for c in r["by_predicted_class"].values()) == 40


def test_attention_and_random_only_needs_no_gradients():
    r = measure_faithfulness(planted(), inputs(), config=FaithfulnessConfig(methods=("random",), **FAST))
    assert set(r["curves"]) == {"attention", "random"} and r["rank_agreement"] == {}


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, math.nan, "x"])
def test_fractions_outside_zero_one_are_refused(bad):
    with pytest.raises(InputError, match="fraction"):
        FaithfulnessConfig(fractions=(bad,))
    with pytest.raises(InputError, match="fraction"):
        FaithfulnessConfig(headline_fraction=bad)


def test_bad_input_is_refused():
    no_attention = Explainable(lambda x, lengths: (x[:, 0, :2], None), "classification")
    with pytest.raises(InputError, match="no attention"):
        measure_faithfulness(no_attention, inputs())
    with pytest.raises(InputError, match="empty"):
        measure_faithfulness(planted(), inputs()[:0])
    with pytest.raises(InputError, match="methods"):
        FaithfulnessConfig(methods=("lime",))
    with pytest.raises(InputError, match="kind"):
        Explainable(lambda x, lengths: (x, None), "ranking")


def test_soft_keep_mask_matches_the_hard_top_k_and_passes_gradients():
    from heedful.explain.perturb import soft_keep_mask

    attention = torch.tensor([[0.5, 0.3, 0.1, 0.1, 0.0], [0.1, 0.6, 0.2, 0.1, 0.0]], requires_grad=True)
    lengths = torch.tensor([5, 4])
    mask = soft_keep_mask(attention, lengths, 0.4)  # 2 of 5, 2 of 4 (ceil 1.6)
    hard = top_k_mask(attention.detach(), lengths, 0.4)
    assert torch.equal(mask[hard], torch.ones(4)) and (mask[~hard] < 1).all()
    assert mask[1, 4] == 0  # padding
    mask.sum().backward()
    assert attention.grad[0, 2] > 0  # a low-attention step gains kept input by gaining attention


def test_skip_classes_measures_only_the_other_predictions():
    x = inputs(n=100)
    x[:, 3, 0] = np.abs(x[:, 3, 0]) + 0.1
    x[:30, 3, 0] = -5.0  # 30 samples predicted class "b" (v < 0), the rest "a"
    cfg = FaithfulnessConfig(skip_classes=("a",), **FAST)
    r = measure_faithfulness(planted(), x, config=cfg, class_names=["a", "b"])
    assert r["samples"] == 30 and set(r["by_predicted_class"]) == {"b"}
    with pytest.raises(InputError, match="unknown classes"):
        measure_faithfulness(planted(), x, config=FaithfulnessConfig(skip_classes=("c",)), class_names=["a", "b"])
    with pytest.raises(InputError, match="nothing to measure"):
        measure_faithfulness(planted(), x, config=FaithfulnessConfig(skip_classes=("a", "b")), class_names=["a", "b"])
