"""AttentionPooling: a masked weighted average over time, independent of padding and length."""

import pytest
import torch

from heedful.attention import AttentionPooling

B, T, D = 3, 7, 5
LENGTHS = torch.tensor([7, 4, 1])
KEY_MASK = torch.arange(T)[None, :] < LENGTHS[:, None]  # (B, T)


@pytest.fixture
def pool():
    torch.manual_seed(0)
    return AttentionPooling(D, attn_dim=6)


@pytest.fixture
def h():
    return torch.randn(B, T, D, generator=torch.Generator().manual_seed(1))


def test_weights_sum_to_one_over_valid_steps_and_vanish_at_pads(pool, h):
    _, weights = pool(h, KEY_MASK)
    assert (weights[~KEY_MASK] == 0.0).all()
    assert (weights[KEY_MASK] > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B))
    assert weights[2, 0] == 1.0  # one valid step takes all the weight


def test_context_is_the_weighted_sum(pool, h):
    context, weights = pool(h, KEY_MASK)
    torch.testing.assert_close(context, torch.einsum("bt,btd->bd", weights, h))


def test_weights_follow_the_formula(pool, h):
    _, weights = pool(h)
    scores = torch.tanh(h @ pool.proj.weight.T + pool.proj.bias) @ pool.context.weight[0]  # uᵀ tanh(W h + b)
    torch.testing.assert_close(weights, scores.softmax(-1))


def test_padding_gives_the_same_context_as_the_unpadded_sequence(pool, h):
    context, weights = pool(h, KEY_MASK)
    for b, n in enumerate(LENGTHS.tolist()):
        alone, alone_w = pool(h[b : b + 1, :n])
        torch.testing.assert_close(context[b], alone[0])
        torch.testing.assert_close(weights[b, :n], alone_w[0])


def test_pad_contents_are_ignored(pool, h):
    noisy = h.masked_fill(~KEY_MASK.unsqueeze(-1), 1e3)
    torch.testing.assert_close(pool(noisy, KEY_MASK)[0], pool(h, KEY_MASK)[0])


def test_not_tied_to_one_sequence_length(pool):
    # the seed's Keras layer had a (T, 1) bias; ours shares one bias across steps
    for steps in (3, 11):
        context, weights = pool(torch.randn(2, steps, D))
        assert context.shape == (2, D) and weights.shape == (2, steps)
    assert pool.proj.bias.shape == (6,)


def test_fully_masked_sample_gives_zero_context(pool, h):
    mask = KEY_MASK.clone()
    mask[1] = False
    context, weights = pool(h, mask)
    assert (context[1] == 0).all() and (weights[1] == 0).all()
    assert torch.isfinite(context).all()


def test_bad_inputs_raise(pool, h):
    with pytest.raises(ValueError, match=rf"expected \(B, T, {D}\), got \({T}, {D}\)"):
        pool(h[0])
    with pytest.raises(ValueError, match=f"expected last dimension {D}, got {D + 1}"):
        pool(torch.randn(B, T, D + 1))
    with pytest.raises(ValueError, match="bool"):
        pool(h, KEY_MASK.float())
