"""SelfAttentionEncoder: every positional encoding, padding and causal invariants."""

import pytest
import torch

from heedful.attention import SelfAttentionEncoder

B, T, DIM, H, LAYERS = 3, 6, 16, 4, 2
LENGTHS = torch.tensor([6, 4, 2])
KEY_MASK = torch.arange(T)[None, :] < LENGTHS[:, None]  # (B, T)
POSITIONALS = ["sinusoidal", "learned", "relative", "none"]


def encoder(positional, causal=False, seed=0):
    torch.manual_seed(seed)
    enc = SelfAttentionEncoder(DIM, H, num_layers=LAYERS, positional=positional, causal=causal, max_len=64)
    if enc.relative is not None:  # zero at init: make it matter
        with torch.no_grad():
            enc.relative.bias.weight.normal_()
    return enc.eval()


def inputs(seed=1):
    return torch.randn(B, T, DIM, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("positional", POSITIONALS)
def test_padding_keys_get_zero_weight_and_pad_outputs_are_zero(positional):
    out, weights = encoder(positional)(inputs(), KEY_MASK, need_weights=True)
    assert torch.isfinite(out).all()
    assert len(weights) == LAYERS
    for w in weights:
        assert w.shape == (B, H, T, T)
        assert (w.transpose(1, 3)[~KEY_MASK] == 0.0).all()  # columns of padded keys
        torch.testing.assert_close(w.sum(-1), torch.ones(B, H, T))
    assert (out[~KEY_MASK] == 0.0).all()
    assert (out[KEY_MASK].abs().sum(-1) > 0).all()


@pytest.mark.parametrize("positional", POSITIONALS)
def test_padding_does_not_change_valid_outputs(positional):
    enc, x = encoder(positional), inputs()
    padded, _ = enc(x, KEY_MASK)
    for b, n in enumerate(LENGTHS.tolist()):
        alone, _ = enc(x[b : b + 1, :n])
        torch.testing.assert_close(padded[b, :n], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("positional", POSITIONALS)
def test_causal_weights_have_zero_upper_triangle(positional):
    enc, x = encoder(positional, causal=True), inputs()
    _, weights = enc(x, KEY_MASK, need_weights=True)
    for w in weights:
        assert (w.triu(1) == 0.0).all()
    # a causal encoder's step t ignores the future: changing the last step leaves earlier ones alone
    x2 = x.clone()
    x2[:, -1] += torch.randn(DIM)  # not a constant: LayerNorm would erase a uniform shift
    out2, _ = enc(x2)
    out1, _ = enc(x)
    torch.testing.assert_close(out1[:, :-1], out2[:, :-1], atol=1e-5, rtol=0)
    assert not torch.allclose(out1[:, -1], out2[:, -1])


def permuted_outputs(positional):
    enc, x = encoder(positional), inputs()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out, _ = enc(x)
    out_perm, _ = enc(x[:, perm])
    return out[:, perm], out_perm


def test_without_positions_the_encoder_ignores_order():
    expected, got = permuted_outputs("none")
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "relative"])
def test_positional_encodings_make_order_matter(positional):
    expected, got = permuted_outputs(positional)
    assert not torch.allclose(got, expected, atol=1e-3)


def test_weights_are_none_unless_asked():
    _, weights = encoder("sinusoidal")(inputs(), KEY_MASK)
    assert weights is None


def test_unknown_positional_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'rotary'.*sinusoidal, learned, relative, none"):
        SelfAttentionEncoder(DIM, H, positional="rotary")


def test_one_training_step_touches_every_parameter():
    enc = encoder("relative").train()
    out, _ = enc(inputs(), KEY_MASK)
    out.square().sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
