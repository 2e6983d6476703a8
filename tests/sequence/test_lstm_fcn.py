import torch
from torch import nn

from heedful.sequence import LSTMFCN
from heedful.sequence.lstm_fcn import MaskedBatchNorm1d


def small(seed=0, **kw) -> LSTMFCN:
    torch.manual_seed(seed)
    return LSTMFCN(4, 3, hidden_size=8, filters=(6, 10, 6), **kw)


def test_shapes_and_published_defaults():
    model = LSTMFCN(52, 18, hidden_size=64)
    convs = [b.conv for b in model.blocks]
    assert [c.out_channels for c in convs] == [128, 256, 128]
    assert [c.kernel_size[0] for c in convs] == [8, 5, 3]
    assert model.out.in_features == 64 + 128
    out = model.eval()(torch.randn(5, 40, 52))
    assert out.prediction.shape == (5, 18) and out.attention is None and out.mask.shape == (5, 40)
    assert out.mask.all()


def test_padding_does_not_change_the_output():
    """Each sequence of a padded batch gets the output it gets alone, whatever sits in the pads."""
    model = small().eval()
    x = torch.randn(3, 9, 4)
    lengths = torch.tensor([9, 4, 6])
    x_padded = x.clone()
    x_padded[1, 4:] = float("nan")
    x_padded[2, 6:] = 1e6
    out = model(x_padded, lengths)
    assert torch.isfinite(out.prediction).all()
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(out.prediction[i], model(x[i : i + 1, :n]).prediction[0])


def test_padding_does_not_change_training_statistics():
    """In training, batch norm's statistics come from valid steps only: more padding changes neither the outputs
    nor the running statistics."""
    a, b = small().train(), small().train()
    x = torch.randn(3, 9, 4)
    lengths = torch.tensor([9, 4, 6])
    longer = torch.cat([x, torch.full((3, 5, 4), 7.0)], 1)  # five more padded steps
    torch.testing.assert_close(a(x, lengths).prediction, b(longer, lengths).prediction)
    for block_a, block_b in zip(a.blocks, b.blocks, strict=True):
        torch.testing.assert_close(block_a.norm.running_mean, block_b.norm.running_mean)
        torch.testing.assert_close(block_a.norm.running_var, block_b.norm.running_var)


def test_masked_batch_norm_equals_batch_norm_without_padding_and_skips_pads():
    torch.manual_seed(0)
    ours, ref = MaskedBatchNorm1d(5), nn.BatchNorm1d(5)
    x = torch.randn(4, 5, 7)
    full = torch.ones(4, 7, dtype=torch.bool)
    torch.testing.assert_close(ours(x, full), ref(x))
    mask = torch.arange(7) < torch.tensor([7, 3, 5, 2])[:, None]  # (B, T)
    valid = x.transpose(1, 2)[mask]  # (N, C): the valid steps alone
    ours2, ref2 = MaskedBatchNorm1d(5), nn.BatchNorm1d(5)
    y = ours2(x, mask).transpose(1, 2)[mask]
    torch.testing.assert_close(y, ref2(valid))
    torch.testing.assert_close(ours2.running_mean, ref2.running_mean)
    torch.testing.assert_close(ours2.running_var, ref2.running_var)


def test_learns_a_small_task():
    torch.manual_seed(0)
    x = torch.randn(64, 12, 4)
    y = (x[:, :, 0].mean(1) > 0).long()
    model = LSTMFCN(4, 2, hidden_size=8, filters=(8, 8, 8))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(x).prediction, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model.eval()(x).prediction.argmax(-1) == y).float().mean() > 0.9
