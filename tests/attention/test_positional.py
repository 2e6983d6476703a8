"""Positional encodings: the sinusoid formula, learned range checks, relative-bias invariances."""

import math

import pytest
import torch

from heedful.attention import LearnedPositionalEncoding, RelativePositionBias, SinusoidalPositionalEncoding
from heedful.attention.positional import sinusoidal_table


@pytest.mark.parametrize("dim", [8, 7])
def test_sinusoidal_table_follows_vaswani(dim):
    table = sinusoidal_table(50, dim)
    for pos in (0, 3, 49):
        for i in range(0, dim, 2):
            angle = pos / 10000 ** (i / dim)
            assert table[pos, i].item() == pytest.approx(math.sin(angle), abs=1e-5)
            if i + 1 < dim:
                assert table[pos, i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)


def test_sinusoidal_encoding_adds_the_table_from_offset():
    pe = SinusoidalPositionalEncoding(6, max_len=20)
    x = torch.randn(2, 5, 6)
    torch.testing.assert_close(pe(x) - x, pe.table[:5].expand(2, 5, 6))
    torch.testing.assert_close(pe(x, offset=7) - x, pe.table[7:12].expand(2, 5, 6))
    assert "table" not in pe.state_dict()  # rebuilt, never saved


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, LearnedPositionalEncoding])
def test_absolute_encodings_reject_sequences_past_max_len(cls):
    pe = cls(4, max_len=10)
    pe(torch.zeros(1, 10, 4))  # exactly max_len is fine
    with pytest.raises(ValueError, match="needs 11 positions, max_len is 10"):
        pe(torch.zeros(1, 11, 4))
    with pytest.raises(ValueError, match="needs 13 positions, max_len is 10"):
        pe(torch.zeros(1, 5, 4), offset=8)
    with pytest.raises(ValueError, match=r"expected input \(B, T, 4\), got \(1, 5, 3\)"):
        pe(torch.zeros(1, 5, 3))


def test_learned_encoding_is_trained_per_position():
    pe = LearnedPositionalEncoding(4, max_len=10)
    pe(torch.zeros(1, 3, 4), offset=2).sum().backward()
    used = pe.embedding.weight.grad.abs().sum(-1) > 0
    assert used.tolist() == [False, False, True, True, True] + [False] * 5


def random_relative(num_heads=2, max_distance=3):
    rel = RelativePositionBias(num_heads, max_distance)
    with torch.no_grad():
        rel.bias.weight.copy_(torch.randn(rel.bias.weight.shape))
    return rel


def test_relative_bias_depends_only_on_clipped_distance():
    rel = random_relative(num_heads=2, max_distance=3)
    bias = rel(9, 9)  # (H, Tq, Tk)
    assert bias.shape == (2, 9, 9)
    for i in range(9):
        for j in range(9):
            d = max(-3, min(3, j - i))
            torch.testing.assert_close(bias[:, i, j], bias[:, 4, 4 + d])  # same distance -> same bias
            torch.testing.assert_close(bias[:, i, j], rel.bias.weight[d + 3])
    assert not torch.equal(bias[:, 0, 1], bias[:, 0, 2])  # inside the window distances differ


def test_relative_bias_with_cache_offset_matches_the_last_rows():
    rel = random_relative()
    full = rel(8, 8)
    torch.testing.assert_close(rel(1, 8), full[:, -1:])  # default offset: queries are the last keys
    torch.testing.assert_close(rel(3, 8, offset=2), full[:, 2:5])


def test_relative_bias_starts_at_zero_and_receives_gradient():
    rel = RelativePositionBias(2, 4)
    assert (rel(5, 5) == 0).all()  # at init, identical to no positional information
    (rel(5, 5) * torch.randn(2, 5, 5)).sum().backward()
    assert rel.bias.weight.grad.abs().sum() > 0
