import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from heedful.sequence import BiRNNEncoder

MERGES = {
    "concat": lambda f, b: torch.cat([f, b], -1),
    "sum": torch.add,
    "mul": torch.mul,
    "ave": lambda f, b: (f + b) / 2,
}


def packed_reference(enc: BiRNNEncoder, x, lengths):
    """The textbook path: the encoder's own nn.LSTM / nn.GRU over a packed batch."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = enc.rnn(packed)
    out = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
    h, c = state if enc.cell == "lstm" else (state, None)
    return out, h, c


def grads(loss, enc, x):
    return torch.autograd.grad(loss, [x, *enc.parameters()])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_padded_batch_matches_each_sequence_alone(cell, num_layers):
    """Stacked layers too: layer 2's backward direction must read layer 1's outputs at each sequence's own steps."""
    torch.manual_seed(0)
    enc = BiRNNEncoder(5, 8, num_layers=num_layers, cell=cell).eval()
    lengths = torch.tensor([7, 3, 5, 1])
    x = torch.randn(4, 7, 5)
    out = enc(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = enc(x[i : i + 1, :n])  # full length: plain nn.LSTM / nn.GRU
        torch.testing.assert_close(out.forward[i, :n], alone.forward[0])
        torch.testing.assert_close(out.backward[i, :n], alone.backward[0])
        torch.testing.assert_close(out.h_n[:, :, i], alone.h_n[:, :, 0])
        if cell == "lstm":
            torch.testing.assert_close(out.c_n[:, :, i], alone.c_n[:, :, 0])
    # padded steps carry nothing and are masked out
    assert torch.equal(out.outputs[1, 3:], torch.zeros(4, 16))
    assert out.mask.sum(1).tolist() == lengths.tolist()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("merge", list(MERGES))
def test_uneven_batch_equals_packed_path_outputs_states_and_gradients(cell, num_layers, merge):
    torch.manual_seed(num_layers)
    enc = BiRNNEncoder(5, 6, num_layers=num_layers, cell=cell, merge=merge)  # train mode, as when learning
    lengths = torch.tensor([4, 9, 1, 6, 9, 2])  # unsorted, repeated, one of length 1, max = T
    x = torch.randn(6, 9, 5, requires_grad=True)
    ref_out, ref_h, ref_c = packed_reference(enc, x, lengths)
    out = enc(x, lengths)
    torch.testing.assert_close(torch.cat([out.forward, out.backward], -1), ref_out)
    torch.testing.assert_close(out.outputs, MERGES[merge](ref_out[..., :6], ref_out[..., 6:]) * out.mask[..., None])
    torch.testing.assert_close(out.h_n.flatten(0, 1), ref_h)
    if cell == "lstm":
        torch.testing.assert_close(out.c_n.flatten(0, 1), ref_c)
    # gradients of a loss that reads every output and final state, w.r.t. the inputs and every weight
    w_out, w_h = torch.randn_like(out.outputs), torch.randn_like(ref_h)
    ref_merged = MERGES[merge](ref_out[..., :6], ref_out[..., 6:]) * out.mask[..., None]
    ref_loss = (ref_merged * w_out).sum() + (ref_h * w_h).sum() + (0 if ref_c is None else ref_c.sum())
    loss = (out.outputs * w_out).sum() + (out.h_n.flatten(0, 1) * w_h).sum() + (0 if ref_c is None else out.c_n.sum())
    for ours, ref in zip(grads(loss, enc, x), grads(ref_loss, enc, x), strict=True):
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_uneven_batch_gradients_equal_per_sequence_gradients(cell):
    torch.manual_seed(0)
    enc = BiRNNEncoder(3, 5, num_layers=2, cell=cell)
    lengths = torch.tensor([2, 6, 4])
    x = torch.randn(3, 6, 3, requires_grad=True)
    batch = grads(enc(x, lengths).outputs.pow(2).sum() + enc(x, lengths).summary.sum(), enc, x)
    alone = sum(
        enc(x[i : i + 1, :n]).outputs.pow(2).sum() + enc(x[i : i + 1, :n]).summary.sum()
        for i, n in enumerate(lengths.tolist())
    )
    for ours, ref in zip(batch, grads(alone, enc, x), strict=True):
        torch.testing.assert_close(ours, ref)
    assert torch.equal(batch[0][0, 2:], torch.zeros(4, 3))  # pads get no gradient


def test_no_row_at_full_length_and_garbage_in_the_pads():
    """Lengths all below T, and pads holding inf / NaN: neither may leak into valid steps or states."""
    torch.manual_seed(0)
    enc = BiRNNEncoder(4, 5, num_layers=2).eval()
    lengths = torch.tensor([3, 5, 2])
    x = torch.randn(3, 7, 4)
    clean = enc(x, lengths)
    dirty = x.clone()
    dirty[0, 3:] = float("nan")
    dirty[1, 5:] = float("inf")
    out = enc(dirty, lengths)
    assert torch.equal(out.outputs, clean.outputs) and torch.equal(out.h_n, clean.h_n)
    ref_out, ref_h, ref_c = packed_reference(enc, x, lengths)
    torch.testing.assert_close(out.outputs, ref_out)
    torch.testing.assert_close(out.h_n.flatten(0, 1), ref_h)
    torch.testing.assert_close(out.c_n.flatten(0, 1), ref_c)
    assert torch.equal(out.outputs[2, 2:], torch.zeros(5, 10))
    assert torch.equal(enc(x, lengths.int()).outputs, clean.outputs)  # int32 lengths index as well


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cuda_packed_path_agrees_with_the_cpu_path(cell):
    """On CUDA the encoder packs (cuDNN runs packed batches natively); the same method runs on CPU here."""
    torch.manual_seed(0)
    enc = BiRNNEncoder(4, 5, num_layers=2, cell=cell).eval()
    x, lengths = torch.randn(3, 6, 4), torch.tensor([6, 2, 4])
    out, state = enc._packed(x, lengths)
    torch.testing.assert_close(enc(x, lengths).outputs, out)
    h = state[0] if cell == "lstm" else state
    torch.testing.assert_close(enc(x, lengths).h_n.flatten(0, 1), h)


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


@pytest.mark.parametrize(("merge", "fn"), MERGES.items())
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


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_unidirectional_uneven_batch_equals_packed_path(cell):
    torch.manual_seed(0)
    enc = BiRNNEncoder(4, 5, num_layers=2, cell=cell, bidirectional=False)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([2, 6, 5])
    ref_out, ref_h, _ = packed_reference(enc, x, lengths)
    out = enc(x, lengths)
    torch.testing.assert_close(out.outputs, ref_out)
    torch.testing.assert_close(out.h_n.flatten(0, 1), ref_h)


def test_dropout_between_layers_on_uneven_batches():
    """Dropout acts between stacked layers in training (as nn.LSTM's does) and never in eval."""
    torch.manual_seed(0)
    enc = BiRNNEncoder(4, 5, num_layers=2, dropout=0.5)
    x, lengths = torch.randn(3, 6, 4), torch.tensor([2, 6, 5])
    trained = enc(x, lengths)
    assert torch.equal(trained.outputs[0, 2:], torch.zeros(4, 10))
    enc.eval()
    ref_out, _, _ = packed_reference(enc, x, lengths)
    torch.testing.assert_close(enc(x, lengths).outputs, ref_out)
    assert not torch.allclose(trained.outputs, ref_out)
    # the first layer reads no dropout: its outputs are in h_n[0] (final states) and match eval mode
    torch.testing.assert_close(trained.h_n[0], enc(x, lengths).h_n[0])
