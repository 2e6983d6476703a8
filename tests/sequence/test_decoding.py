import itertools

import pytest
import torch

from conftest import ATTENTIONS, token_model
from heedful.sequence import beam_search, filter_logits, greedy_decode, sample_decode


@torch.no_grad()
def teacher_forced_logprob(model, src, lengths, tokens):
    """Sum of log p(token_t | tokens_<t) under the model, by teacher forcing."""
    out = model(src, tokens, lengths).outputs.log_softmax(-1)
    return out.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(-1)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_beam_size_one_equals_greedy(attention, batch):
    model = token_model(attention, num_layers=2, seed=1)
    src, lengths = batch
    greedy = greedy_decode(model, src, lengths, max_len=12)
    beam = beam_search(model, src, lengths, beam_size=1, max_len=12, return_attention=attention is not None)
    assert torch.equal(beam.tokens[:, 0], greedy.tokens)
    torch.testing.assert_close(beam.scores[:, 0], greedy.scores)
    assert torch.equal(beam.lengths[:, 0], greedy.lengths)
    if attention:
        torch.testing.assert_close(beam.attention[:, 0], greedy.attention)


def test_batched_beam_equals_one_sample_at_a_time(batch):
    model = token_model("luong_concat", seed=2)
    src, lengths = batch
    together = beam_search(model, src, lengths, beam_size=4, n_best=3, max_len=9, length_penalty_alpha=0.6)
    for i in range(src.shape[0]):
        n = int(lengths[i])
        alone = beam_search(model, src[i : i + 1, :n], beam_size=4, n_best=3, max_len=9, length_penalty_alpha=0.6)
        t = alone.tokens.shape[-1]
        assert torch.equal(together.tokens[i, :, :t], alone.tokens[0])
        assert (together.tokens[i, :, t:] == 0).all()
        torch.testing.assert_close(together.scores[i], alone.scores[0])


def test_beam_scores_are_the_model_log_probabilities(batch):
    model = token_model("bahdanau", seed=4)
    src, lengths = batch
    beam = beam_search(model, src, lengths, beam_size=5, n_best=5, max_len=7, length_penalty_alpha=1.0)
    assert (beam.normalized[:, :-1] >= beam.normalized[:, 1:]).all()  # best first
    for j in range(5):
        tokens = beam.tokens[:, j]
        steps = torch.arange(tokens.shape[1])
        logp = model(src, tokens, lengths).outputs.log_softmax(-1).gather(-1, tokens[..., None]).squeeze(-1)
        expected = (logp * (steps < beam.lengths[:, j, None])).sum(-1)
        torch.testing.assert_close(beam.scores[:, j], expected)
        lp = ((5 + beam.lengths[:, j].float()) / 6) ** 1.0
        torch.testing.assert_close(beam.normalized[:, j], beam.scores[:, j] / lp)


def test_wide_beam_finds_the_exhaustive_optimum():
    """Vocabulary of 5 and max_len 3: a beam wider than the search space must return the argmax."""
    torch.manual_seed(0)
    from heedful.sequence import Seq2Seq, Seq2SeqConfig

    model = Seq2Seq(Seq2SeqConfig(src_vocab=5, tgt_vocab=5, hidden_size=8, embed_dim=4)).eval()
    src = torch.tensor([[3, 4, 3]])
    best = -float("inf")
    for length in (1, 2, 3):
        for seq in itertools.product(range(5), repeat=length):
            if 2 in seq[:-1] or (length < 3 and seq[-1] != 2):
                continue  # EOS (id 2) ends a hypothesis; shorter ones must end with it
            tokens = torch.tensor([seq])
            best = max(best, float(teacher_forced_logprob(model, src, None, tokens)))
    beam = beam_search(model, src, beam_size=25, max_len=3)
    assert beam.scores[0, 0].item() == pytest.approx(best, abs=1e-5)


def test_beam_attention_maps(batch):
    model = token_model("bahdanau", seed=5)
    src, lengths = batch
    beam = beam_search(model, src, lengths, beam_size=3, n_best=2, max_len=6, return_attention=True)
    assert beam.attention.shape[:3] == (5, 2, beam.tokens.shape[-1]) and beam.attention.shape[-1] == 8
    steps = torch.arange(beam.tokens.shape[-1])
    valid = steps < beam.lengths[..., None]
    torch.testing.assert_close(beam.attention.sum(-1), valid.float())
    assert torch.equal(beam.attention[3, :, :, 1:], torch.zeros_like(beam.attention[3, :, :, 1:]))


def test_sampling_is_reproducible_and_top_k_one_is_greedy(batch):
    model = token_model("luong_dot", seed=6)
    src, lengths = batch
    one = sample_decode(model, src, lengths, max_len=8, top_k=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(one.tokens, greedy_decode(model, src, lengths, max_len=8).tokens)
    a = sample_decode(model, src, lengths, max_len=8, temperature=1.5, generator=torch.Generator().manual_seed(7))
    b = sample_decode(model, src, lengths, max_len=8, temperature=1.5, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.tokens, b.tokens)


def test_filter_logits():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))[0].tolist()
    assert kept == [True, True, False, False]  # 0.5 < 0.7, 0.5 + 0.3 reaches it
    assert torch.isfinite(filter_logits(logits, top_p=0.1))[0].tolist() == [True, False, False, False]
    hot = filter_logits(logits, temperature=0.5).softmax(-1)
    assert hot[0, 0] > 0.5  # a low temperature sharpens
    with pytest.raises(ValueError, match="temperature must be > 0"):
        filter_logits(logits, temperature=0)
    with pytest.raises(ValueError, match="0 < top_p <= 1"):
        filter_logits(logits, top_p=0)


def test_decoding_bad_arguments(batch):
    model = token_model()
    src, lengths = batch
    with pytest.raises(ValueError, match="n_best <= beam_size"):
        beam_search(model, src, lengths, beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        greedy_decode(model, src, lengths, max_len=0)
