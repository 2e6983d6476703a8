"""heedful.checkpoint: a save restores model, optimiser, scheduler and random state exactly; an interrupted save
leaves the previous one; damaged files are named."""

import random

import numpy as np
import pytest
import torch

from heedful.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from heedful.errors import InputError


def _setup(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def _step(model, opt, sched):
    loss = model(torch.randn(8, 3)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def test_a_resumed_run_repeats_an_uninterrupted_one(tmp_path):
    model, opt, sched = _setup()
    for _ in range(3):
        _step(model, opt, sched)
    save_checkpoint(tmp_path, model, {"epoch": 3}, opt, sched, best=True)
    expected = [_step(model, opt, sched) for _ in range(3)] + [random.random(), float(np.random.rand())]

    fresh, fresh_opt, fresh_sched = _setup(seed=99)
    torch.manual_seed(123), random.seed(5), np.random.seed(5)  # a new process: other random state
    assert load_checkpoint(tmp_path, fresh, fresh_opt, fresh_sched) == {"epoch": 3}
    got = [_step(fresh, fresh_opt, fresh_sched) for _ in range(3)] + [random.random(), float(np.random.rand())]
    assert got == expected
    assert fresh_opt.param_groups[0]["betas"] == (0.9, 0.999)  # tuples survive JSON


def test_an_interrupted_save_keeps_the_previous_one(tmp_path, monkeypatch):
    import heedful.checkpoint as ckpt

    model, opt, sched = _setup()
    save_checkpoint(tmp_path, model, {"epoch": 1}, opt)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _step(model, opt, sched)
    monkeypatch.setattr(ckpt, "rng_state", lambda: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, model, {"epoch": 2}, opt)  # killed after the weights, before state.json
    restored, restored_opt, _ = _setup(seed=7)
    assert load_checkpoint(tmp_path, restored, restored_opt) == {"epoch": 1}
    for key, value in restored.state_dict().items():
        torch.testing.assert_close(value, before[key])


@pytest.mark.parametrize("damage", [b"", b"\x00" * 7, b"garbage that is not a header"])
def test_damaged_weights_are_named(tmp_path, damage):
    model, _, _ = _setup()
    path = save_weights(tmp_path / "best.safetensors", model)
    path.write_bytes(path.read_bytes()[:40] if damage == b"" else damage)
    with pytest.raises(InputError, match=f"{path}: not a readable safetensors file"):
        load_weights(model, path)


def test_weights_of_another_shape_are_named(tmp_path):
    model, _, _ = _setup()
    path = save_weights(tmp_path / "w.safetensors", model)
    other = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    with pytest.raises(InputError, match=r"0.weight has shape \(4, 3\), the model \(5, 3\)"):
        load_weights(other, path)


def test_no_checkpoint_yet_is_none(tmp_path):
    model, opt, _ = _setup()
    assert load_checkpoint(tmp_path / "nothing", model, opt) is None
