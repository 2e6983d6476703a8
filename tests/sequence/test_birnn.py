import pytest
import torch
from torch import nn

from heedful.sequence import BiRNNEncoder


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_padded_batch_matches_each_sequence_alone(cell, num_layers):
    torch.manual_seed(0)
    enc = BiRNNEncoder(5, 8, num_layers=num_layers, cell=cell).eval()
    lengths = torch.tensor([7, 3, 5, 1])
    x = torch.randn(4, 7, 5)
    out = enc(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = enc(x[i : i + 1, :n])
        torch.testing.assert_close(out.forward[i, :n], alone.forward[0])
        torch.testing.assert_close(out.backward[i, :n], alone.backward[0])
        torch.testing.assert_close(out.h_n[:, :, i], alone.h_n[:, :, 0])
        if cell == "lstm":
            torch.testing.assert_close(out.c_n[:, :, i], alone.c_n[:, :, 0])
    # padded steps carry nothing and are masked out
    assert torch.equal(out.outputs[1, 3:], torch.zeros(4, 16))
    assert out.mask.sum(1).tolist() == lengths.tolist()


def test_backward_direction_does_not_start_on_pads():
    """The trap: without packing the backward pass reads the pads first and its state at step 0 changes."""
    torch.manual_seed(0)
    enc = BiRNNEncoder(3, 4).eval()
    x = torch.randn(1, 6, 3)
    padded = torch.cat([x[:, :4], torch.zeros(1, 2, 3)], 1)
    ours = enc(padded, torch.tensor([4])).backward[0, 0]
    unpacked = enc(padded).backward[0, 0]  # no lengths: the pads are read as data
    truth = enc(x[:, :4]).backward[0, 0]
    torch.testing.assert_close(ours, truth)
    assert not torch.allclose(unpacked, truth)


def test_matches_raw_nn_lstm_with_copied_weights():
    torch.manual_seed(0)
    enc = BiRNNEncoder(6, 5, num_layers=2)
    ref = nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    ref.load_state_dict(enc.rnn.state_dict())
    x = torch.randn(3, 9, 6)
    out, (h, c) = ref(x)
    ours = enc(x)
    torch.testing.assert_close(ours.outputs, out)
    torch.testing.assert_close(ours.h_n.reshape(4, 3, 5), h)
    torch.testing.assert_close(ours.c_n.reshape(4, 3, 5), c)


@pytest.mark.parametrize(
    ("merge", "fn"),
    [
        ("concat", lambda f, b: torch.cat([f, b], -1)),
        ("sum", torch.add),
        ("mul", torch.mul),
        ("ave", lambda f, b: (f + b) / 2),
    ],
)
def test_merge_modes(merge, fn):
    torch.manual_seed(0)
    enc = BiRNNEncoder(4, 6, merge=merge)
    out = enc(torch.randn(2, 5, 4), torch.tensor([5, 2]))
    torch.testing.assert_close(out.outputs, fn(out.forward, out.backward).masked_fill(~out.mask[..., None], 0))
    assert out.outputs.shape[-1] == enc.output_size == (12 if merge == "concat" else 6)


def test_summary_joins_last_forward_and_first_backward_state():
    torch.manual_seed(0)
    enc = BiRNNEncoder(3, 4, cell="gru")
    out = enc(torch.randn(2, 6, 3), torch.tensor([6, 4]))
    torch.testing.assert_close(out.summary[1, :4], out.forward[1, 3])
    torch.testing.assert_close(out.summary[1, 4:], out.backward[1, 0])


def test_unidirectional_encoder():
    enc = BiRNNEncoder(3, 4, bidirectional=False)
    out = enc(torch.randn(2, 5, 3))
    assert out.backward is None and out.outputs.shape == (2, 5, 4) and enc.output_size == 4


@pytest.mark.parametrize(
    ("kwargs", "call", "message"),
    [
        ({"merge": "avg"}, None, "merge mode 'avg'"),
        ({"cell": "rnn"}, None, "cell 'rnn'"),
        ({}, (torch.randn(2, 5, 4), None), "expected (B, T, 3), got (2, 5, 4)"),
        ({}, (torch.randn(2, 5, 3), torch.tensor([5, 6])), "lengths must lie in [1, 5]"),
        ({}, (torch.randn(2, 5, 3), torch.tensor([5])), "lengths: expected shape (2,)"),
        ({}, (torch.randint(0, 3, (2, 5, 3)), None), "floating dtype"),
    ],
)
def test_bad_input_names_expected_and_received(kwargs, call, message):
    with pytest.raises(ValueError) as err:
        enc = BiRNNEncoder(3, 4, **kwargs)
        enc(*call)
    assert message in str(err.value)
