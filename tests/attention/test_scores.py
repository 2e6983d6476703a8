"""Score functions against hand-written per-pair formulas; score modules against the functions."""

import math

import pytest
import torch

from heedful.attention import (
    Attention,
    additive_scores,
    concat_scores,
    cosine_scores,
    dot_scores,
    general_scores,
    make_score,
    scaled_dot_scores,
)
from heedful.attention.scores import SCORES

B, TQ, TK, DQ, DK, A = 2, 3, 5, 4, 6, 7
ATOL = 1e-5


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def pairwise(q, k, fn):
    """(B, Tq, Tk) scores built one (q_i, k_j) pair at a time."""
    out = torch.empty(q.shape[0], q.shape[1], k.shape[1])
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            for j in range(k.shape[1]):
                out[b, i, j] = fn(q[b, i], k[b, j])
    return out


@pytest.fixture
def q():
    return randn(B, TQ, DQ, seed=1)


@pytest.fixture
def k():
    return randn(B, TK, DK, seed=2)


@pytest.fixture
def k_same():  # keys with the query's width, for dot / scaled_dot / cosine
    return randn(B, TK, DQ, seed=3)


# --- pure functions vs formulas ------------------------------------------------------------------


def test_dot_scores(q, k_same):
    torch.testing.assert_close(dot_scores(q, k_same), torch.einsum("bqd,bkd->bqk", q, k_same))


def test_scaled_dot_scores(q, k_same):
    expected = pairwise(q, k_same, lambda qi, kj: (qi * kj).sum() / math.sqrt(DQ))
    torch.testing.assert_close(scaled_dot_scores(q, k_same), expected, atol=ATOL, rtol=0)
    torch.testing.assert_close(scaled_dot_scores(q, k_same, scale=0.5), 0.5 * dot_scores(q, k_same))


def test_general_scores(q, k):
    w = randn(DQ, DK, seed=4)
    expected = pairwise(q, k, lambda qi, kj: qi @ w @ kj)
    torch.testing.assert_close(general_scores(q, k, w), expected, atol=ATOL, rtol=0)


def test_concat_scores(q, k):
    w, v = randn(A, DQ + DK, seed=5), randn(A, seed=6)
    expected = pairwise(q, k, lambda qi, kj: v @ torch.tanh(w @ torch.cat([qi, kj])))
    torch.testing.assert_close(concat_scores(q, k, w, v), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("with_bias", [True, False])
def test_additive_scores(q, k, with_bias):
    w_q, w_k, v = randn(A, DQ, seed=7), randn(A, DK, seed=8), randn(A, seed=9)
    b = randn(A, seed=10) if with_bias else torch.zeros(A)
    expected = pairwise(q, k, lambda qi, kj: v @ torch.tanh(w_q @ qi + w_k @ kj + b))
    got = additive_scores(q, k, w_q, w_k, v, b if with_bias else None)
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_cosine_scores(q, k_same):
    expected = pairwise(q, k_same, lambda qi, kj: 3.0 * (qi @ kj) / (qi.norm() * kj.norm()))
    torch.testing.assert_close(cosine_scores(q, k_same, scale=3.0), expected, atol=ATOL, rtol=0)
    # scale-free in its inputs and bounded by the temperature
    torch.testing.assert_close(cosine_scores(5 * q, 0.1 * k_same), cosine_scores(q, k_same), atol=ATOL, rtol=0)
    assert cosine_scores(q, k_same, scale=3.0).abs().max() <= 3.0 + 1e-6


def test_cosine_scores_of_a_zero_vector_are_finite(q, k_same):
    k_same = k_same.clone()
    k_same[0, 0] = 0.0
    scores = cosine_scores(q, k_same)
    assert torch.isfinite(scores).all()
    assert (scores[0, :, 0] == 0).all()


# --- modules vs functions ------------------------------------------------------------------------


def module_as_function(name, module, q, k):
    """The pure function evaluated with the module's own parameters."""
    if name == "dot":
        return dot_scores(q, k)
    if name == "scaled_dot":
        return scaled_dot_scores(q, k)
    if name == "cosine":
        return cosine_scores(q, k, scale=module.log_scale.exp())
    if name == "general":
        return general_scores(q, k, module.weight)
    if name == "concat":
        return concat_scores(q, k, module.weight, module.v)
    return additive_scores(q, k, module.w_q.weight, module.w_k.weight, module.v, module.w_q.bias)


def module_inputs(name, q, k, k_same):
    return (q, k_same, DQ) if name in ("dot", "scaled_dot", "cosine") else (q, k, DK)


@pytest.mark.parametrize("name", list(SCORES))
def test_score_module_equals_pure_function(name, q, k, k_same):
    q, keys, key_dim = module_inputs(name, q, k, k_same)
    torch.manual_seed(0)
    module = make_score(name, DQ, key_dim, attn_dim=A)
    torch.testing.assert_close(module(q, keys), module_as_function(name, module, q, keys), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(SCORES))
def test_prepare_keys_then_score_equals_forward(name, q, k, k_same):
    q, keys, key_dim = module_inputs(name, q, k, k_same)
    module = make_score(name, DQ, key_dim, attn_dim=A)
    prepared = module.prepare_keys(keys)
    steps = torch.cat([module.score(q[:, t : t + 1], prepared) for t in range(TQ)], dim=1)  # a decoder
    torch.testing.assert_close(steps, module(q, keys), atol=ATOL, rtol=0)


def test_concat_has_no_bias_and_additive_has_one():
    assert make_score("concat", DQ, DK).w_q.bias is None
    assert make_score("additive", DQ, DK).w_q.bias is not None
    assert make_score("concat", DQ, DK, attn_dim=A).weight.shape == (A, DQ + DK)


def test_score_modules_are_trainable_where_expected(q, k):
    for name in ("general", "concat", "additive"):
        module = make_score(name, DQ, DK, attn_dim=A)
        module(q, k).square().sum().backward()
        grads = [p.grad for p in module.parameters()]
        assert grads and all(g is not None and g.abs().sum() > 0 for g in grads), name


@pytest.mark.parametrize(
    "alias, canonical",
    [
        ("bahdanau", "additive"),
        ("luong_dot", "dot"),
        ("luong_general", "general"),
        ("luong_concat", "concat"),
        ("bilinear", "general"),
        ("scaled", "scaled_dot"),
    ],
)
def test_aliases(alias, canonical, q, k, k_same):
    q, keys, key_dim = module_inputs(canonical, q, k, k_same)
    module = make_score(alias, DQ, key_dim)
    assert type(module) is SCORES[canonical]
    torch.testing.assert_close(module(q, keys), module_as_function(canonical, module, q, keys), atol=ATOL, rtol=0)


def test_unknown_score_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"'luong_magic'.*expected one of: dot, scaled_dot, general.*bahdanau"):
        make_score("luong_magic", DQ, DQ)


@pytest.mark.parametrize("name", ["dot", "scaled_dot", "cosine", "luong_dot"])
def test_dot_like_scores_need_equal_dims(name):
    with pytest.raises(ValueError, match=f"{name}.*query_dim == key_dim, got {DQ} and {DK}"):
        make_score(name, DQ, DK)


def test_wrong_dims_name_expected_and_received(q, k, k_same):
    with pytest.raises(ValueError, match=f"expected last dimension {DQ}, got {DK}"):
        dot_scores(q, k)
    with pytest.raises(ValueError, match=rf"expected shape \({DQ}, {DK}\), got \({DK}, {DQ}\)"):
        general_scores(q, k, randn(DK, DQ))
    with pytest.raises(ValueError, match=f"concat weight: expected last dimension {DQ + DK}, got {DQ + DK - 1}"):
        concat_scores(q, k, randn(A, DQ + DK - 1), randn(A))
    with pytest.raises(ValueError, match=f"additive W_k: expected last dimension {DK}, got {DQ}"):
        additive_scores(q, k, randn(A, DQ), randn(A, DQ), randn(A))
    for name in ("general", "concat", "additive"):
        module = make_score(name, DQ, DK)
        with pytest.raises(ValueError, match=f"keys: expected last dimension {DK}, got {DQ}"):
            module(q, k_same)
        with pytest.raises(ValueError, match=f"queries: expected last dimension {DQ}, got {DK}"):
            module(k, k)


def test_scores_reject_bad_dtypes_and_ranks(q, k_same):
    with pytest.raises(ValueError, match="floating point"):
        dot_scores(q.long(), k_same.long())
    with pytest.raises(ValueError, match="share a dtype"):
        dot_scores(q, k_same.double())
    with pytest.raises(ValueError, match="at least 2 dims"):
        dot_scores(q[0, 0], k_same)


# --- Attention: one module, any score -------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCORES))
def test_attention_single_step_equals_full_query(name, q, k, k_same):
    q, keys, key_dim = module_inputs(name, q, k, k_same)
    attention = Attention(name, DQ, key_dim, attn_dim=A)
    values = randn(B, TK, 3, seed=11)
    key_mask = torch.tensor([[True] * TK, [True, True, False, True, False]])
    context, weights = attention(q, keys, values, key_mask)
    prepared = attention.prepare_keys(keys)
    for t in range(TQ):
        c_t, w_t = attention(q[:, t], keys, values, key_mask, prepared_keys=prepared)  # (B, Dv), (B, Tk)
        torch.testing.assert_close(c_t, context[:, t], atol=ATOL, rtol=0)
        torch.testing.assert_close(w_t, weights[:, t], atol=ATOL, rtol=0)
    assert (weights[1][:, ~key_mask[1]] == 0.0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, TQ))
    torch.testing.assert_close(context, weights @ values)


def test_attention_values_default_to_keys(q, k):
    attention = Attention("general", DQ, DK)
    context, weights = attention(q, k)
    torch.testing.assert_close(context, weights @ k)


def test_cosine_scores_at_the_default_scale():
    """Default scale 1: plain cosine similarity, worked by hand; the module's default temperature is 5."""
    q = torch.tensor([[[1.0, 0.0], [3.0, 4.0]]])  # (1, 2, 2)
    k = torch.tensor([[[2.0, 0.0], [0.0, -1.0], [1.0, 1.0]]])  # (1, 3, 2)
    r = 1 / math.sqrt(2)
    expected = torch.tensor([[[1.0, 0.0, r], [0.6, -0.8, 7 / 5 * r]]])
    torch.testing.assert_close(cosine_scores(q, k), expected)
    module = make_score("cosine", 2, 2)
    torch.testing.assert_close(module.log_scale.exp(), torch.tensor(5.0))
    torch.testing.assert_close(module(q, k), 5 * expected)


@pytest.mark.parametrize("name", ["general", "additive"])
def test_general_and_additive_scores_check_their_inputs(name, q, k):
    """Bad queries / keys / weights are named with what was expected and what came."""
    w = {"general": (randn(DQ, DK),), "additive": (randn(A, DQ), randn(A, DK), randn(A))}[name]
    fn = {"general": general_scores, "additive": additive_scores}[name]
    with pytest.raises(ValueError, match=r"floating point, got torch.int64 and torch.int64"):
        fn(q.long(), k.long(), *w)
    with pytest.raises(ValueError, match=r"share a dtype, got torch.float32 and torch.float64"):
        fn(q, k.double(), *w)
    with pytest.raises(ValueError, match=rf"at least 2 dims \(T, D\), got \({DQ},\) and \({B}, {TK}, {DK}\)"):
        fn(q[0, 0], k, *w)
    if name == "additive":
        with pytest.raises(ValueError, match=f"additive W_q: expected last dimension {DQ}, got {DK}"):
            additive_scores(q, k, randn(A, DK), randn(A, DK), randn(A))
        with pytest.raises(ValueError, match=f"additive W_k: expected last dimension {DK}, got {DQ}"):
            additive_scores(q, k, randn(A, DQ), randn(A, DQ), randn(A))
    else:
        with pytest.raises(ValueError, match=rf"general weight: expected shape \({DQ}, {DK}\), got \({DQ}, {DQ}\)"):
            general_scores(q, k, randn(DQ, DQ))
