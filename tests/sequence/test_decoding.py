import itertools
import math

import pytest
import torch

from heedful.sequence import beam_search, filter_logits, greedy_decode, sample_decode

from .conftest import ATTENTIONS, token_model


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


@torch.no_grad()
def reference_beam(model, src, beam_size, max_len, alpha, n_best):
    """Textbook beam search for one input, one hypothesis at a time: every live hypothesis expands by every token
    (a finished one only by pad, at log-probability 0), all candidates are ranked by score / ((5 + len) / 6) ** alpha
    with len counting tokens up to EOS, the best ``beam_size`` survive. Log-probabilities come from teacher forcing."""
    eos, pad = model.config.eos_id, model.config.pad_id
    beams = [((), 0.0, 0, False)]  # tokens, score, length, finished

    def key(beam):
        return beam[1] / ((5 + beam[2]) / 6) ** alpha

    for _ in range(max_len):
        live = [bm for bm in beams if not bm[3]]
        tgt = torch.tensor([[*bm[0], pad] for bm in live])
        logp = model(src.expand(len(live), -1), tgt).outputs[:, -1].log_softmax(-1)
        candidates = [((*toks, pad), score, n, True) for toks, score, n, done in beams if done]
        for (toks, score, n, _), row in zip(live, logp.tolist(), strict=True):
            candidates += [((*toks, v), score + lp, n + 1, v == eos) for v, lp in enumerate(row)]
        beams = sorted(candidates, key=key, reverse=True)[:beam_size]
        if all(bm[3] for bm in beams):
            break
    return sorted(beams, key=key, reverse=True)[:n_best]


def sharp_eos_prone_model(seed):
    """A seeded model whose hypotheses differ in length: output layer sharpened 16x and the EOS logit raised by 3.
    (With a plain random model every step costs about log(1/11) and every hypothesis runs to max_len, so a length
    penalty never has anything to decide.)"""
    model = token_model("luong_general", seed=seed)
    with torch.no_grad():
        model.out.weight.mul_(16)
        model.out.bias.mul_(16)
        model.out.bias[model.config.eos_id] += 3.0
    return model


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_beam_search_equals_textbook_beam_search_with_length_penalty(alpha):
    """The batched search (per-beam top K, then the global top K by normalised score) keeps the same hypotheses as
    ranking every candidate; the length penalty decides which ones survive at each step, not only at the end."""
    src = torch.tensor([[4, 7, 5, 9, 3, 8], [6, 3, 10, 4, 4, 5]])
    lengths_seen = set()
    for seed in range(4):
        model = sharp_eos_prone_model(seed)
        beam = beam_search(model, src, beam_size=3, n_best=3, max_len=8, length_penalty_alpha=alpha)
        for i in range(src.shape[0]):
            ref = reference_beam(model, src[i : i + 1], beam_size=3, max_len=8, alpha=alpha, n_best=3)
            for j, (toks, score, n, _) in enumerate(ref):
                assert beam.tokens[i, j, : len(toks)].tolist() == list(toks), (seed, i, j)
                assert (beam.tokens[i, j, len(toks) :] == 0).all()
                assert beam.scores[i, j].item() == pytest.approx(score, abs=1e-4)
                assert beam.lengths[i, j].item() == n
                assert beam.normalized[i, j].item() == pytest.approx(score / ((5 + n) / 6) ** alpha, abs=1e-4)
                lengths_seen.add(n)
    assert len(lengths_seen) >= 3  # hypotheses of several lengths competed


class MarkovLM:
    """A decoder whose next-token probabilities depend only on the previous token (a fixed table), following the
    decoding protocol. Tokens: pad 0, bos 1, eos 2, a 3, b 4, c 5. After bos: eos .5, a .3, b .2; after a: b .6,
    c .4; after b: eos 1; after c: c .99, eos .01. Everything else ~1e-9."""

    class config:  # read as ``model.config``
        tokens_out, eos_id, pad_id = True, 2, 0

    class State:
        def select(self, index):
            return self

        reorder = select

    table = torch.full((6, 6), 1e-9)
    table[1, 2], table[1, 3], table[1, 4] = 0.5, 0.3, 0.2
    table[3, 4], table[3, 5] = 0.6, 0.4
    table[4, 2] = 1.0
    table[5, 5], table[5, 2] = 0.99, 0.01

    def encode(self, src, src_lengths=None):
        return self.State()

    def start_input(self, n, device):
        return torch.full((n,), 1, dtype=torch.long, device=device)

    def decoder_step(self, prev, state):
        return self.table.log()[prev], state, None


EOS_ONLY = ([2, 0, 0], 1, math.log(0.5))  # tokens, length, log-probability
A_B_EOS = ([3, 4, 2], 3, math.log(0.3 * 0.6))
A_C_C_C = ([3, 5, 5, 5], 4, math.log(0.3 * 0.4 * 0.99 * 0.99))


@pytest.mark.parametrize(
    ("alpha", "winner", "runner_up"),
    [
        # raw log-probability: stopping at once (-0.69) beats a b eos (-1.71) and a c c c (-2.14)
        (0.0, EOS_ONLY, A_B_EOS),
        # alpha 2: lp(3) = 1.78 and a b eos scores -0.96: [eos] still wins
        (2.0, EOS_ONLY, A_B_EOS),
        # alpha 8: at step 2 the normalised a c (-2.12 / 3.43 = -0.62) must push [eos] (-0.69) out of the beam of 2,
        # so that a c c c (-2.14 / 25.6 = -0.084) beats a b eos (-1.71 / 9.99 = -0.17) at the end. Ranking by the raw
        # score during the search (keeping [eos] and a b) or only at the end (a b eos: -1.71 > -2.14) returns a b eos.
        (8.0, A_C_C_C, A_B_EOS),
    ],
)
def test_length_penalty_decides_the_winner(alpha, winner, runner_up):
    beam = beam_search(
        MarkovLM(), torch.zeros(1, 3, dtype=torch.long), beam_size=2, n_best=2, max_len=4, length_penalty_alpha=alpha
    )
    for j, (tokens, length, logp) in enumerate([winner, runner_up]):
        assert beam.tokens[0, j, : len(tokens)].tolist() == tokens
        assert beam.lengths[0, j].item() == length
        assert beam.scores[0, j].item() == pytest.approx(logp, abs=1e-5)
        assert beam.normalized[0, j].item() == pytest.approx(logp / ((5 + length) / 6) ** alpha, abs=1e-5)


def test_length_penalty_values():
    from heedful.sequence.beam import length_penalty

    lengths = torch.tensor([1, 7, 13])
    torch.testing.assert_close(length_penalty(lengths, 1.0), torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(length_penalty(lengths, 2.0), torch.tensor([1.0, 4.0, 9.0]))
    torch.testing.assert_close(length_penalty(lengths, 0.0), torch.ones(3))


def test_beam_search_argument_checks_and_defaults(batch):
    model = token_model()
    src, lengths = batch
    for kwargs in ({"max_len": 0}, {"beam_size": 0, "n_best": 0}, {"beam_size": 2, "n_best": 0}):
        with pytest.raises(ValueError, match=r"need beam_size >= 1, 1 <= n_best <= beam_size, max_len >= 1; got"):
            beam_search(model, src, lengths, **kwargs)
    with pytest.raises(ValueError, match=r"got beam_size=3, n_best=1, max_len=0"):
        beam_search(model, src, lengths, beam_size=3, max_len=0)
    from heedful.sequence import Seq2Seq, Seq2SeqConfig

    continuous = Seq2Seq(Seq2SeqConfig(input_size=3, output_size=2, hidden_size=8)).eval()
    with pytest.raises(ValueError, match="needs a token-output model; use greedy_decode"):
        beam_search(continuous, torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=r"got beam_size=5, n_best=6, max_len=50"):  # the documented defaults
        beam_search(model, src, lengths, n_best=6)
    assert beam_search(model, src, lengths, n_best=5, max_len=3).tokens.shape[:2] == (5, 5)
    default = beam_search(model, src, lengths, max_len=4)  # beam_size 5, n_best 1, no attention maps
    assert default.attention is None
    assert default.tokens.shape == (5, 1, default.tokens.shape[-1]) and default.tokens.shape[-1] <= 4
    one = beam_search(model, src, lengths, max_len=1, beam_size=2, n_best=2)
    assert one.tokens.shape == (5, 2, 1) and (one.lengths == 1).all()
