import pytest
import torch
import torch.nn.functional as F

from heedful.sequence import Seq2Seq, Seq2SeqConfig, greedy_decode, mix_inputs
from heedful.sequence.synthetic import reversal_task

from .conftest import ATTENTIONS, token_model


def manual_teacher_forcing(model, src, lengths, tgt):
    """Reference: feed the gold previous token at every step by hand."""
    state = model.encode(src, lengths)
    prev = model.start_input(src.shape[0], src.device)
    outs = []
    for t in range(tgt.shape[1]):
        out, state, _ = model.decoder_step(prev, state)
        outs.append(out)
        prev = tgt[:, t]
    return torch.stack(outs, 1)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_scheduled_sampling_at_ratio_one_equals_teacher_forcing(attention, cell, batch):
    model = token_model(attention, cell, num_layers=2)
    src, lengths = batch
    tgt = torch.randint(3, 11, (5, 6))
    out = model(src, tgt, lengths, teacher_forcing=1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.outputs, manual_teacher_forcing(model, src, lengths, tgt))
    if attention:
        assert out.attention.shape == (5, 6, 8)
        torch.testing.assert_close(out.attention.sum(-1), torch.ones(5, 6))
        assert torch.equal(out.attention[3, :, 1:], torch.zeros(6, 7))  # length-1 source: pads get 0


def test_ratio_zero_feeds_own_predictions_like_greedy(batch):
    model = token_model("luong_general")
    src, lengths = batch
    tgt = torch.randint(3, 11, (5, 4))
    free = model(src, tgt, lengths, teacher_forcing=0.0).outputs.argmax(-1)
    greedy = greedy_decode(model, src, lengths, max_len=4)
    # identical until a sequence emits EOS (greedy then pads, the free-running loop does not)
    for i in range(5):
        n = int(greedy.lengths[i])
        assert torch.equal(free[i, :n], greedy.tokens[i, :n])


def test_mix_inputs_decides_per_sample():
    gold, own = torch.zeros(2000, dtype=torch.long), torch.ones(2000, dtype=torch.long)
    mixed = mix_inputs(gold, own, 0.3, torch.Generator().manual_seed(0))
    assert 0.25 < (mixed == 0).float().mean() < 0.35
    vec = mix_inputs(torch.zeros(100, 3), torch.ones(100, 3), 0.5, torch.Generator().manual_seed(0))
    assert ((vec == 0).all(1) | (vec == 1).all(1)).all()  # a sample takes the whole vector from one side


def test_scheduled_sampling_varies_within_a_sequence(monkeypatch):
    """The coin is tossed per time step: a sequence sees gold at some steps and its own output at others."""
    model = token_model("bahdanau")
    src, lengths, tgt = reversal_task(1, vocab=11, seed=0)
    picks = []
    import heedful.sequence.seq2seq as s2s

    def spy(gold, own, ratio, generator):
        chosen = mix_inputs(gold, own, ratio, generator)
        picks.append(bool((chosen == gold).all()) and bool((gold != own).any()))
        return chosen

    monkeypatch.setattr(s2s, "mix_inputs", spy)
    model(src, tgt, lengths, teacher_forcing=0.5, generator=torch.Generator().manual_seed(1))
    assert any(picks) and not all(picks)


@pytest.mark.slow  # about 5 s each on the 2-core machine: 5 epochs over 2,000 sequences to a 90% threshold
@pytest.mark.parametrize("attention", ["bahdanau", "luong_general"])
def test_learns_to_reverse_sequences(attention):
    """A few seconds of training reach >= 90% exact-match reversal on held-out sequences."""
    torch.manual_seed(0)
    src, lengths, tgt = reversal_task(2000, vocab=10, min_len=3, max_len=7, seed=1)
    vs, vl, vt = reversal_task(200, vocab=10, min_len=3, max_len=7, seed=2)
    cfg = Seq2SeqConfig(src_vocab=10, tgt_vocab=10, attention=attention, hidden_size=64, embed_dim=32)
    model = Seq2Seq(cfg)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(5):
        for idx in torch.randperm(2000).split(64):
            out = model(src[idx], tgt[idx], lengths[idx])
            loss = F.cross_entropy(out.outputs.transpose(1, 2), tgt[idx], ignore_index=0)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    pred = greedy_decode(model, vs, vl, max_len=vt.shape[1]).tokens
    pred = F.pad(pred, (0, vt.shape[1] - pred.shape[1]))
    exact = (pred == vt).all(1).float().mean().item()
    assert exact >= 0.9, exact


@pytest.mark.slow  # a training run to an error threshold (about 3 s)
def test_continuous_seq2seq_learns_a_delay():
    """Trajectory output: predict the last 4 inputs of channel 0 (a delayed copy), MSE well below variance."""
    torch.manual_seed(0)
    x = torch.randn(512, 12, 2)
    y = x[:, -4:, :1]
    cfg = Seq2SeqConfig(input_size=2, output_size=1, attention="luong_general", hidden_size=32)
    model = Seq2Seq(cfg)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for step in range(150):
        idx = torch.randint(0, 512, (64,))
        loss = F.mse_loss(model(x[idx], y[idx], teacher_forcing=max(0.0, 1 - step / 100)).outputs, y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    pred = greedy_decode(model, x[:128], max_len=4).values
    assert F.mse_loss(pred, y[:128]).item() < 0.25  # variance of y is 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"src_vocab": 5, "input_size": 3, "tgt_vocab": 5}, "exactly one of input_size"),
        ({"src_vocab": 5}, "exactly one of output_size"),
        ({"src_vocab": 5, "tgt_vocab": 5, "attention": "luong"}, "unknown attention 'luong'"),
        ({"src_vocab": 5, "tgt_vocab": 5, "hidden_size": 7}, "even hidden_size, got 7"),
        ({"src_vocab": 5, "tgt_vocab": 2}, "must lie in [0, 2)"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError) as err:
        Seq2SeqConfig(**kwargs)
    assert message in str(err.value)


def test_bad_tensors_are_named(batch):
    model = token_model()
    src, lengths = batch
    with pytest.raises(ValueError, match=r"target token ids must lie in \[0, 11\), got max 11"):
        model(src, torch.full((5, 3), 11), lengths)
    with pytest.raises(ValueError, match=r"source: expected token ids"):
        model(src.float(), torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"teacher_forcing must lie in \[0, 1\]"):
        model(src, torch.ones(5, 3, dtype=torch.long), teacher_forcing=1.5)
    cont = Seq2Seq(Seq2SeqConfig(input_size=3, output_size=2))
    with pytest.raises(ValueError, match=r"expected \(2, T, 2\) values, got \(2, 4, 3\)"):
        cont(torch.randn(2, 5, 3), torch.randn(2, 4, 3))
