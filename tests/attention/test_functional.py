"""attend / masks / masked_softmax: parity with F.scaled_dot_product_attention and the mask invariants."""

import math

import pytest
import torch
import torch.nn.functional as F

from heedful.attention import attend, causal_mask, masked_softmax, padding_mask

B, H, TQ, TK, D, DV = 2, 3, 4, 6, 8, 5
ATOL = 1e-6


@pytest.fixture
def qkv():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(B, H, TQ, D, generator=g)
    k = torch.randn(B, H, TK, D, generator=g)
    v = torch.randn(B, H, TK, DV, generator=g)
    return q, k, v


def random_mask(*shape, seed=1):
    """Random bool mask (True = attend) with at least one valid key per row."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(*shape, generator=g) > 0.5
    mask[..., 0] = True
    return mask


def reference_weights(q, k, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(-1)


# --- parity with the fused kernel --------------------------------------------------------------


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("mask_kind", ["none", "full", "key_padding", "shared"], ids=["no-mask", "BHQK", "B11K", "QK"])
def test_attend_matches_sdpa(qkv, need_weights, mask_kind):
    q, k, v = qkv
    mask = {
        "none": None,
        "full": random_mask(B, H, TQ, TK),
        "key_padding": random_mask(B, 1, 1, TK),
        "shared": random_mask(TQ, TK),
    }[mask_kind]
    out, weights = attend(q, k, v, mask, need_weights=need_weights)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, reference_weights(q, k, mask), atol=ATOL, rtol=0)
        torch.testing.assert_close(weights @ v, expected, atol=ATOL, rtol=0)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True])
def test_attend_causal_matches_sdpa(need_weights):
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(B, H, TK, D, generator=g) for _ in range(3))
    out, _ = attend(q, k, v, is_causal=True, need_weights=need_weights)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("need_weights", [False, True])
def test_attend_causal_with_cache_offset_and_padding(qkv, need_weights):
    # Tk > Tq: the queries are the last Tq positions (bottom-right alignment, as with a KV cache).
    q, k, v = qkv
    key_mask = random_mask(B, 1, 1, TK)
    out, _ = attend(q, k, v, key_mask, is_causal=True, need_weights=need_weights)
    allowed = causal_mask(TQ, TK) & key_mask
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)


def test_fused_and_explicit_paths_agree_with_scores_given(qkv):
    q, k, v = qkv
    mask = random_mask(B, H, TQ, TK)
    fused, _ = attend(q, k, v, mask, need_weights=False)
    explicit, _ = attend(q, k, v, mask, scores=q @ k.transpose(-2, -1) / math.sqrt(D))
    torch.testing.assert_close(fused, explicit, atol=ATOL, rtol=0)


# --- masks ---------------------------------------------------------------------------------------


def test_masked_keys_get_exactly_zero_weight(qkv):
    q, k, v = qkv
    mask = random_mask(B, H, TQ, TK)
    _, weights = attend(q, k, v, mask)
    assert (weights[~mask] == 0.0).all()
    assert (weights[mask] > 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, H, TQ))


def test_masked_softmax_ignores_scores_at_masked_positions():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(4, 7, generator=g)
    mask = random_mask(4, 7)
    scrambled = scores.masked_fill(~mask, 1e4)  # huge scores at masked keys must not matter
    assert torch.equal(masked_softmax(scores, mask), masked_softmax(scrambled, mask))


def fully_masked(qkv):
    q, k, v = (x.clone().requires_grad_() for x in qkv)
    mask = random_mask(B, H, TQ, TK)
    mask[0, 1, 2] = False  # batch 0, head 1, query 2 sees no key
    mask[1, :, 0] = False  # batch 1, query 0 sees no key in any head
    return q, k, v, mask


@pytest.mark.parametrize("need_weights", [False, True], ids=["fused", "explicit"])
def test_fully_masked_row_gives_zeros_and_finite_gradients(qkv, need_weights):
    q, k, v, mask = fully_masked(qkv)
    out, weights = attend(q, k, v, mask, need_weights=need_weights)
    empty = ~mask.any(-1)  # (B, H, Tq)
    assert empty.sum() == 1 + H
    assert (out[empty] == 0.0).all()
    assert torch.isfinite(out).all()
    if need_weights:
        assert (weights[empty] == 0.0).all()
        assert torch.isfinite(weights).all()
    # rows that do see keys are unaffected by the empty ones
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | empty.unsqueeze(-1))
    torch.testing.assert_close(out[~empty], expected[~empty], atol=ATOL, rtol=0)
    (out.square().sum()).backward()
    for name, x in (("q", q), ("k", k), ("v", v)):
        assert torch.isfinite(x.grad).all(), f"NaN/inf gradient w.r.t. {name}"
    assert (q.grad[empty] == 0).all()  # a query that attends to nothing gets no gradient


def test_causal_mask_definition():
    for tq, tk in [(4, 4), (3, 7), (1, 5), (5, 3)]:
        mask = causal_mask(tq, tk)
        expected = torch.tensor([[j <= i + (tk - tq) for j in range(tk)] for i in range(tq)])
        assert torch.equal(mask, expected), (tq, tk)
    assert causal_mask(3, 7)[-1].all()  # the last query sees the whole cache


def test_padding_mask_from_lengths():
    lengths = torch.tensor([3, 0, 5, 1])
    expected = torch.tensor([[t < n for t in range(5)] for n in lengths.tolist()])
    assert torch.equal(padding_mask(lengths), expected)
    assert padding_mask(lengths, max_len=7).shape == (4, 7)
    assert padding_mask(lengths, max_len=7)[:, 5:].sum() == 0


@pytest.mark.parametrize("lengths", [torch.tensor([2, -1]), torch.tensor([[2, 3]])])
def test_padding_mask_rejects_bad_lengths(lengths):
    with pytest.raises(ValueError, match="lengths"):
        padding_mask(lengths)


def test_padding_mask_rejects_lengths_beyond_max_len():
    with pytest.raises(ValueError, match=r"\[0, 4\].*max 6"):
        padding_mask(torch.tensor([2, 6]), max_len=4)


def test_non_bool_masks_are_rejected(qkv):
    q, k, v = qkv
    float_mask = random_mask(B, H, TQ, TK).float()
    with pytest.raises(ValueError, match=r"bool.*float32"):
        masked_softmax(torch.randn(B, H, TQ, TK), float_mask)
    for need_weights in (False, True):  # the fused kernel would read a 0/1 float mask as a bias
        with pytest.raises(ValueError, match=r"bool.*float32"):
            attend(q, k, v, float_mask, need_weights=need_weights)


def test_attend_rejects_mismatched_value_steps(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match=f"expected {TK} steps to match keys, got {TK - 2}$"):
        attend(q, k, v[..., :-2, :])  # TK - 2 != DV: the message must report the steps, not the width


def test_fast_tanh_matches_torch_tanh_with_and_without_grad():
    from heedful.attention.functional import _tanh

    x = torch.linspace(-30, 30, 20001)
    torch.testing.assert_close(_tanh(x), torch.tanh(x), atol=3e-7, rtol=0)
    leaf = torch.randn(64, requires_grad=True)
    _tanh(leaf).sum().backward()
    torch.testing.assert_close(leaf.grad, 1 - torch.tanh(leaf.detach()) ** 2, atol=1e-6, rtol=0)


def test_fast_tanh_values_on_every_path():
    """The in-place path (no grad), the autograd path (a leaf that requires grad) and a grad-requiring input
    under no_grad all give tanh's values, and none writes into its input."""
    from heedful.attention.functional import _tanh

    x = torch.tensor([-20.0, -3.0, -1.0, -0.25, 0.0, 0.5, 2.0, 30.0])
    expected = torch.tensor([-1.0, -0.9950548, -0.7615942, -0.2449187, 0.0, 0.4621172, 0.9640276, 1.0])
    plain = x.clone()
    torch.testing.assert_close(_tanh(plain), expected, atol=3e-7, rtol=0)
    leaf = x.clone().requires_grad_()
    tracked = _tanh(leaf)
    assert tracked.requires_grad
    torch.testing.assert_close(tracked.detach(), expected, atol=3e-7, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(_tanh(leaf), expected, atol=3e-7, rtol=0)
    assert torch.equal(plain, x) and torch.equal(leaf.detach(), x)
    assert _tanh(torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]  # odd function, exactly 0 at 0


@pytest.mark.parametrize("need_weights", [False, True])
def test_causal_mask_on_3d_inputs(need_weights):
    """(B, T, D) inputs without a head axis, B != T, with Tk > Tq (a cache) and a (B, 1, Tk) key mask."""
    g = torch.Generator().manual_seed(4)
    b, tq, tk = 3, 2, 5
    q, k, v = (
        torch.randn(b, tq, D, generator=g),
        torch.randn(b, tk, D, generator=g),
        torch.randn(b, tk, DV, generator=g),
    )
    out, weights = attend(q, k, v, is_causal=True, need_weights=need_weights)
    # query i sees keys 0 .. i + (Tk - Tq): 4 keys for the first query, 5 for the second
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    first = torch.cat([scores[:, 0, :4].softmax(-1), torch.zeros(b, 1)], -1)
    expected_w = torch.stack([first, scores[:, 1].softmax(-1)], 1)
    torch.testing.assert_close(out, expected_w @ v, atol=ATOL, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, expected_w, atol=ATOL, rtol=0)
        assert (weights[:, 0, 4] == 0).all()
    key_mask = torch.tensor([True, True, False, True, True]).expand(b, 1, tk)
    masked, _ = attend(q, k, v, key_mask, is_causal=True, need_weights=need_weights)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(tq, tk) & key_mask)
    torch.testing.assert_close(masked, reference, atol=ATOL, rtol=0)
    same_length, _ = attend(q, k[:, :tq], v[:, :tq], is_causal=True, need_weights=need_weights)
    torch.testing.assert_close(same_length[:, 0], v[:, 0], atol=ATOL, rtol=0)  # the first query sees only key 0
