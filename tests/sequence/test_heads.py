import pytest
import torch

from heedful.sequence import SequenceModel


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_many_to_one_is_padding_invariant(pooling):
    torch.manual_seed(0)
    model = SequenceModel.build(4, 3, pooling=pooling, hidden_size=8, cell="gru").eval()
    x = torch.randn(3, 9, 4)
    lengths = torch.tensor([9, 4, 6])
    out = model(x, lengths)
    assert out.prediction.shape == (3, 3)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out.prediction[i], model(x[i : i + 1, :n]).prediction[0])


def test_attention_pooling_returns_weights_over_valid_steps():
    torch.manual_seed(0)
    model = SequenceModel.build(4, 2, pooling="attention", hidden_size=8)
    out = model(torch.randn(2, 7, 4), torch.tensor([7, 3]))
    torch.testing.assert_close(out.attention.sum(1), torch.ones(2))
    assert torch.equal(out.attention[1, 3:], torch.zeros(4))


def test_many_to_many_zeroes_pads_and_learns_per_step_labels():
    torch.manual_seed(0)
    model = SequenceModel.build(1, 2, head="many_to_many", hidden_size=16, cell="gru")
    x = torch.randn(64, 12, 1)
    labels = (x[..., 0] > 0).long()  # per-step label readable from the current step
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(60):
        logits = model(x).prediction
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 2), labels.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (model(x).prediction.argmax(-1) == labels).float().mean()
    assert acc > 0.95
    out = model(x[:2], torch.tensor([12, 5]))
    assert torch.equal(out.prediction[1, 5:], torch.zeros(7, 2))


def test_unknown_head_and_pooling():
    with pytest.raises(ValueError, match="unknown head 'seq'"):
        SequenceModel.build(3, 2, head="seq")
    with pytest.raises(ValueError, match="unknown pooling 'sum'"):
        SequenceModel.build(3, 2, pooling="sum")
