"""MultiHeadAttention against nn.MultiheadAttention(batch_first=True) with copied weights."""

import pytest
import torch
from torch import nn

from heedful.attention import MultiHeadAttention, causal_mask

B, TQ, TK, E, H = 2, 5, 7, 12, 3
KDIM, VDIM = 10, 6
ATOL = 1e-5


def randomised(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random, biases included (both libraries zero them at init)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module.eval()


def reference(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    """nn.MultiheadAttention holding our weights."""
    ref = nn.MultiheadAttention(E, H, batch_first=True, kdim=ours.kdim, vdim=ours.vdim).eval()
    with torch.no_grad():
        if ref.in_proj_weight is not None:
            ref.in_proj_weight.copy_(torch.cat([ours.q_weight, ours.k_weight, ours.v_weight]))
        else:
            ref.q_proj_weight.copy_(ours.q_weight)
            ref.k_proj_weight.copy_(ours.k_weight)
            ref.v_proj_weight.copy_(ours.v_weight)
        ref.in_proj_bias.copy_(ours.in_bias)
        ref.out_proj.weight.copy_(ours.attn_out.weight)
        ref.out_proj.bias.copy_(ours.attn_out.bias)
    return ref


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


KEY_MASK = torch.tensor([[True] * TK, [True, False, True, True, False, False, True]])  # True = valid


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("key_mask", [None, KEY_MASK], ids=["no-mask", "key-mask"])
def test_self_attention_matches_nn(need_weights, key_mask):
    ours = randomised(MultiHeadAttention(E, H))
    ref = reference(ours)
    x = randn(B, TK, E, seed=1)
    out, weights = ours(x, key_mask=key_mask, need_weights=need_weights)
    ref_out, ref_weights = ref(
        x,
        x,
        x,
        key_padding_mask=None if key_mask is None else ~key_mask,
        need_weights=need_weights,
        average_attn_weights=False,
    )
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, ref_weights, atol=ATOL, rtol=0)
    else:
        assert weights is None


@pytest.mark.parametrize("need_weights", [False, True])
def test_cross_attention_with_other_dims_matches_nn(need_weights):
    ours = randomised(MultiHeadAttention(E, H, kdim=KDIM, vdim=VDIM), seed=2)
    ref = reference(ours)
    assert ref.in_proj_weight is None  # nn switches to separate q/k/v projections
    query, key, value = randn(B, TQ, E, seed=3), randn(B, TK, KDIM, seed=4), randn(B, TK, VDIM, seed=5)
    out, weights = ours(query, key, value, key_mask=KEY_MASK, need_weights=need_weights)
    ref_out, ref_weights = ref(query, key, value, key_padding_mask=~KEY_MASK, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, ref_weights, atol=ATOL, rtol=0)
        assert (weights[1, :, :, ~KEY_MASK[1]] == 0.0).all()


def test_averaged_head_weights_match_nn():
    ours = randomised(MultiHeadAttention(E, H), seed=6)
    x = randn(B, TK, E, seed=7)
    _, weights = ours(x, key_mask=KEY_MASK, need_weights=True)
    _, ref_weights = reference(ours)(x, x, x, key_padding_mask=~KEY_MASK)  # averaged by default
    torch.testing.assert_close(weights.mean(1), ref_weights, atol=ATOL, rtol=0)


@pytest.mark.parametrize("need_weights", [False, True])
def test_causal_and_attn_mask_match_nn(need_weights):
    ours = randomised(MultiHeadAttention(E, H), seed=8)
    ref = reference(ours)
    x = randn(B, TK, E, seed=9)
    ref_out, _ = ref(x, x, x, attn_mask=~causal_mask(TK), key_padding_mask=~KEY_MASK)  # nn: True = blocked
    out_causal, w = ours(x, key_mask=KEY_MASK, is_causal=True, need_weights=need_weights)
    out_mask, _ = ours(x, key_mask=KEY_MASK, attn_mask=causal_mask(TK), need_weights=need_weights)
    torch.testing.assert_close(out_causal, ref_out, atol=ATOL, rtol=0)
    torch.testing.assert_close(out_mask, ref_out, atol=ATOL, rtol=0)
    if need_weights:
        assert (w.triu(1) == 0.0).all()


def test_per_sample_attn_mask():
    ours = randomised(MultiHeadAttention(E, H), seed=10)
    x = randn(B, TK, E, seed=11)
    per_sample = torch.stack([causal_mask(TK), torch.ones(TK, TK, dtype=torch.bool)])  # (B, T, T)
    out, w = ours(x, attn_mask=per_sample, need_weights=True)
    assert (w[0].triu(1) == 0).all() and (w[1] > 0).all()
    torch.testing.assert_close(out[0], ours(x[:1], is_causal=True)[0][0], atol=ATOL, rtol=0)
    torch.testing.assert_close(out[1], ours(x[1:])[0][0], atol=ATOL, rtol=0)


def test_outputs_do_not_depend_on_need_weights():
    ours = randomised(MultiHeadAttention(E, H, kdim=KDIM, vdim=VDIM), seed=12)
    query, kv = randn(B, TQ, E, seed=13), randn(B, TK, KDIM, seed=14)
    ours_v = randomised(MultiHeadAttention(E, H, kdim=KDIM, vdim=KDIM), seed=12)  # value defaults to key
    for module, args in ((ours, (query, kv, kv[..., :VDIM])), (ours_v, (query, kv))):
        fused, _ = module(*args, key_mask=KEY_MASK, need_weights=False)
        explicit, _ = module(*args, key_mask=KEY_MASK, need_weights=True)
        torch.testing.assert_close(fused, explicit, atol=ATOL, rtol=0)


def test_fused_self_projection_equals_separate_projections():
    ours = randomised(MultiHeadAttention(E, H), seed=15)
    x = randn(B, TK, E, seed=16)
    fused, _ = ours(x)  # key is query: one concatenated matmul
    separate, _ = ours(x, x.clone(), x.clone())
    torch.testing.assert_close(fused, separate, atol=ATOL, rtol=0)


def test_position_bias_is_added_to_scores():
    ours = randomised(MultiHeadAttention(E, H), seed=17)
    x = randn(B, TK, E, seed=18)
    block = torch.zeros(H, TK, TK)
    block[:, :, -1] = -1e9  # a bias of -inf on the last key acts as a mask
    biased, w = ours(x, position_bias=block, need_weights=True)
    masked, _ = ours(x, key_mask=torch.tensor([[True] * (TK - 1) + [False]] * B))
    torch.testing.assert_close(biased, masked, atol=ATOL, rtol=0)
    assert (w[..., -1] == 0).all()
    without_weights, _ = ours(x, position_bias=block, need_weights=False)
    torch.testing.assert_close(without_weights, biased)


def test_padding_keys_do_not_change_outputs():
    ours = randomised(MultiHeadAttention(E, H), seed=19)
    x = randn(1, 4, E, seed=20)
    padded = torch.cat([x, randn(1, 3, E, seed=21)], dim=1)
    key_mask = torch.tensor([[True] * 4 + [False] * 3])
    out, _ = ours(padded, key_mask=key_mask)
    torch.testing.assert_close(out[:, :4], ours(x)[0], atol=ATOL, rtol=0)


def test_gradients_flow_to_every_parameter():
    ours = randomised(MultiHeadAttention(E, H, kdim=KDIM, vdim=VDIM), seed=22).train()
    out, _ = ours(randn(B, TQ, E, seed=23), randn(B, TK, KDIM, seed=24), randn(B, TK, VDIM, seed=25))
    out.square().sum().backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_no_linear_named_like_lora_targets():
    names = {name for name, m in MultiHeadAttention(E, H).named_modules() if isinstance(m, nn.Linear)}
    assert not names & {"q_proj", "k_proj", "v_proj"}


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m(randn(B, TQ, E + 1, seed=0)), rf"query: expected shape \(B, T, {E}\), got"),
        (lambda m: m(randn(B, TQ, E, seed=0), randn(B, TK, E, seed=0)), rf"key: expected shape \(B, T, {KDIM}\)"),
        (
            lambda m: m(randn(B, TQ, E, seed=0), randn(B, TK, KDIM, seed=0), randn(B, TK + 1, VDIM, seed=0)),
            "batch/steps mismatch",
        ),
        (
            lambda m: m(
                randn(B, TQ, E, seed=0),
                randn(B, TK, KDIM, seed=0),
                randn(B, TK, VDIM, seed=0),
                key_mask=torch.ones(B, TK),
            ),
            "key_mask must be bool",
        ),
        (
            lambda m: m(
                randn(B, TQ, E, seed=0),
                randn(B, TK, KDIM, seed=0),
                randn(B, TK, VDIM, seed=0),
                key_mask=torch.ones(B, TK + 1, dtype=torch.bool),
            ),
            rf"expected shape \({B}, {TK}\)",
        ),
        (
            lambda m: m(
                randn(B, TQ, E, seed=0),
                randn(B, TK, KDIM, seed=0),
                randn(B, TK, VDIM, seed=0),
                attn_mask=torch.ones(TK, TQ, dtype=torch.bool),
            ),
            rf"attn_mask: expected bool \(\.\.\., {TQ}, {TK}\)",
        ),
    ],
)
def test_bad_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call(MultiHeadAttention(E, H, kdim=KDIM, vdim=VDIM))


def test_heads_must_divide_embed_dim():
    with pytest.raises(ValueError, match="embed_dim 10 must be divisible by num_heads 3"):
        MultiHeadAttention(10, 3)
