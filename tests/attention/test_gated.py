"""GatedCrossAttention / TanhGate: closed gates are an exact identity, open gates let the condition in."""

import pytest
import torch

from heedful.attention import GatedCrossAttention, TanhGate

B, T, N, DIM, COND = 3, 5, 4, 8, 6


def block(attn_gate=None, ff_gate=None, seed=0):
    """A block with every weight random (biases too, as after training); gates set when given."""
    torch.manual_seed(seed)
    gca = GatedCrossAttention(DIM, COND, num_heads=2)
    with torch.no_grad():
        for name, p in gca.named_parameters():
            if "gate" not in name:
                p.copy_(torch.randn(p.shape) * 0.3)
        if attn_gate is not None:
            gca.attn_gate.gate.fill_(attn_gate)
        if ff_gate is not None:
            gca.ff_gate.gate.fill_(ff_gate)
    return gca.eval()


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


X, COND_TOKENS = randn(B, T, DIM, seed=1), randn(B, N, COND, seed=2)
KEY_MASK = torch.tensor([[True] * N, [True, True, False, False], [False] * N])  # sample 2: nothing valid


def test_tanh_gate_starts_closed_but_learns():
    gate, x = TanhGate(), randn(4, 3, seed=3)
    assert (gate(x) == 0).all()
    gate(x).sum().backward()
    torch.testing.assert_close(gate.gate.grad, x.sum())  # d/dg x·tanh(g) at g = 0 is x
    torch.testing.assert_close(TanhGate(0.5)(x), x * torch.tanh(torch.tensor(0.5)))


@pytest.mark.parametrize("key_mask", [None, KEY_MASK], ids=["no-mask", "mask"])
def test_closed_gates_return_the_input_exactly(key_mask):
    gca = block(seed=4)
    assert gca.attn_gate.gate == 0 and gca.ff_gate.gate == 0  # the default init
    out, weights = gca(X, COND_TOKENS, key_mask, need_weights=True)
    assert torch.equal(out, X)
    assert weights.shape == (B, 2, T, N)


def test_closed_gates_still_receive_gradient():
    gca = GatedCrossAttention(DIM, COND, num_heads=2)
    out, _ = gca(X, COND_TOKENS, KEY_MASK)
    out.square().sum().backward()
    assert gca.attn_gate.gate.grad != 0
    assert gca.ff_gate.gate.grad != 0


def test_open_gates_let_the_condition_in():
    gca = block(attn_gate=1.0, ff_gate=1.0, seed=5)
    out, _ = gca(X, COND_TOKENS, KEY_MASK)
    assert not torch.allclose(out, X)
    other, _ = gca(X, COND_TOKENS + randn(B, N, COND, seed=6), KEY_MASK)
    assert not torch.allclose(out[:2], other[:2])  # samples with valid tokens see the condition


def test_masked_condition_tokens_are_ignored():
    gca = block(attn_gate=1.0, ff_gate=1.0, seed=7)
    out, weights = gca(X, COND_TOKENS, KEY_MASK, need_weights=True)
    changed = COND_TOKENS.clone()
    changed[1, 2:] += 10.0  # masked tokens of sample 1
    out2, _ = gca(X, changed, KEY_MASK)
    torch.testing.assert_close(out, out2)
    assert (weights[1, ..., 2:] == 0).all() and (weights[2] == 0).all()


def test_fully_masked_sample_gets_nothing_from_the_attention_branch():
    gca = block(attn_gate=1.0, ff_gate=0.0, seed=8)  # FFN closed: only attention could change x
    assert gca.attn.attn_out.bias.abs().sum() > 0  # a trained output bias must not leak in either
    for need_weights in (False, True):
        out, _ = gca(X, COND_TOKENS, KEY_MASK, need_weights=need_weights)
        assert torch.equal(out[2], X[2])
        assert not torch.allclose(out[:2], X[:2])


def test_gradients_reach_query_and_key_projections_with_several_tokens():
    gca = block(attn_gate=1.0, ff_gate=1.0, seed=9).train()
    out, _ = gca(X, COND_TOKENS, KEY_MASK)
    out.square().sum().backward()
    for name, p in gca.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_single_condition_token_starves_query_and_key_projections():
    # The seed's h_change.unsqueeze(1): one key, softmax weight always 1, no learning signal for q/k.
    gca = block(attn_gate=1.0, ff_gate=1.0, seed=10).train()
    out, weights = gca(X, COND_TOKENS[:, :1], need_weights=True)
    assert (weights == 1.0).all()
    out.square().sum().backward()
    assert gca.attn.q_weight.grad.abs().max() < 1e-6
    assert gca.attn.k_weight.grad.abs().max() < 1e-6
    assert gca.attn.v_weight.grad.abs().sum() > 0


def test_bad_condition_raises():
    gca = block(seed=11)
    with pytest.raises(ValueError, match=rf"expected \({B}, N, {COND}\), got \({B}, {N}, {COND + 1}\)"):
        gca(X, randn(B, N, COND + 1, seed=0))
    with pytest.raises(ValueError, match=rf"expected \({B}, N, {COND}\), got \({B - 1}, {N}, {COND}\)"):
        gca(X, COND_TOKENS[1:])
    with pytest.raises(ValueError, match=rf"expected \({B}, N, {COND}\), got \({B}, {COND}\)"):
        gca(X, COND_TOKENS[:, 0])  # a single (B, D) vector must be given as (B, 1, D)


def test_residual_scale_makes_tanh_gate_the_relative_size_of_the_update():
    import math

    import torch

    from heedful.attention.gated import GatedCrossAttention

    torch.manual_seed(0)
    block = GatedCrossAttention(16, 8, num_heads=2, gate_init=0.3, residual_scale=True)
    block.ff_gate.gate.data.zero_()
    x = torch.randn(2, 5, 16) * 700.0  # a residual stream far larger than the block's output
    out, _ = block(x, torch.randn(2, 3, 8))
    rel = (out - x).pow(2).mean(-1).sqrt() / x.pow(2).mean(-1).sqrt()
    assert torch.allclose(rel, torch.full_like(rel, math.tanh(0.3)), rtol=1e-3)
    plain = GatedCrossAttention(16, 8, num_heads=2, gate_init=0.3)
    plain.load_state_dict(block.state_dict())
    plain.ff_gate.gate.data.zero_()
    small, _ = plain(x, torch.randn(2, 3, 8))
    assert ((small - x).pow(2).mean(-1).sqrt() / x.pow(2).mean(-1).sqrt()).max() < 0.01
    closed = GatedCrossAttention(16, 8, num_heads=2, residual_scale=True)
    assert torch.equal(closed(x, torch.randn(2, 3, 8))[0], x)  # gates at 0: exactly the input
