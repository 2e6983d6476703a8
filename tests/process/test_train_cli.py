import json

import numpy as np
import pytest
import torch

from heedful.cli import main
from heedful.errors import InputError
from heedful.process.data import Split
from heedful.process.models import build_model
from heedful.process.train import TrainConfig, fit, load_weights, predict


def toy_split(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12, 3)).astype(np.float32)
    y = (x[:, 6:, 1].mean(1) > 0).astype(np.int64)
    return Split(x, y, np.zeros(n, int), np.full(n, 12))


class ToyData:
    n_features, n_classes, kind = 3, 2, "classification"


def test_fit_learns_and_resume_equals_an_uninterrupted_run(tmp_path):
    train, val = toy_split(256, 0), toy_split(128, 1)
    cfg = TrainConfig(epochs=6, batch_size=32, lr=1e-2, patience=10)
    torch.manual_seed(0)
    straight = build_model("bigru_attn", ToyData, hidden_size=8)
    result = fit(straight, train, val, cfg, tmp_path / "a", progress=False)
    assert result.epochs_run == 6 and result.best_val > 0.8

    torch.manual_seed(0)
    first = build_model("bigru_attn", ToyData, hidden_size=8)
    fit(first, train, val, TrainConfig(epochs=2, batch_size=32, lr=1e-2, patience=10), tmp_path / "b", progress=False)
    torch.manual_seed(123)  # a fresh process: different init, must be overwritten by the checkpoint
    resumed = build_model("bigru_attn", ToyData, hidden_size=8)
    again = fit(resumed, train, val, cfg, tmp_path / "b", progress=False)
    assert [h["val_accuracy"] for h in again.history] == [h["val_accuracy"] for h in result.history]
    a, b = build_model("bigru_attn", ToyData, hidden_size=8), build_model("bigru_attn", ToyData, hidden_size=8)
    (last_a,), (last_b,) = (tmp_path / "a").glob("step-*"), (tmp_path / "b").glob("step-*")
    load_weights(a, last_a / "model.safetensors")
    load_weights(b, last_b / "model.safetensors")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, msg=name)
    pred, attention = predict(straight, val.x)
    assert pred.shape == (128,) and attention.shape == (128, 12)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    train, val = toy_split(64, 0), toy_split(32, 1)
    model = build_model("gru", ToyData, hidden_size=4)
    fit(model, train, val, TrainConfig(epochs=1), tmp_path, progress=False)
    (weights,) = tmp_path.glob("step-*/model.safetensors")
    weights.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=f"{weights}: not a readable safetensors file"):
        fit(model, train, val, TrainConfig(epochs=2), tmp_path, progress=False)


def test_cli_train_explain_compare(tmp_path, capsys):
    args = [
        "--task",
        "tep_faults",
        "--faults",
        "0,1,2",
        "--window",
        "10",
        "--epochs",
        "2",
        "--hidden-size",
        "8",
        "--out",
        str(tmp_path),
    ]
    assert main(["process", "train", "--model", "bigru_attn", *args]) == 0
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]["per_fault_accuracy"]) == {"1", "2"}
    assert "2-fault average (observable faults 1, 2):" in capsys.readouterr().out
    assert main(["process", "explain", str(run), "--fault", "1"]) == 0
    assert (run / "explain_fault1.png").read_bytes()[:4] == b"\x89PNG"
    out = tmp_path / "cmp"
    capsys.readouterr()
    assert main(["process", "compare", "--models", "gru,pca_t2", *args[:-1], str(out)]) == 0
    (cmp_run,) = out.iterdir()
    said = [line for line in capsys.readouterr().out.splitlines() if not _effective_config(line)]
    assert said[:3] == [f"run folder: {cmp_run}", "model 1 of 2: gru", "model 2 of 2: pca_t2"]  # then the table
    table = (cmp_run / "table.md").read_text()
    assert "| gru |" in table and "| pca_t2 |" in table and "2-fault avg (observable)" in table
    assert (cmp_run / "models" / "gru" / "metrics.json").exists() and (cmp_run / "comparison.png").exists()
    assert main(["process", "explain", str(cmp_run / "models" / "gru"), "--fault", "2"]) == 2  # no attention to show


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["process", "train", "--task", "nope"], "unknown task 'nope'"),
        (["process", "train", "--task", "tep_faults", "--model", "cnn"], "unknown model 'cnn'"),
        (["process", "train", "--task", "tep_faults", "--faults", "1,2"], "must include 0"),
        (["process", "train", "--task", "tep_faults", "--epochs", "0"], "epochs must be >= 1"),
        (["process", "explain", "/nonexistent", "--fault", "1"], "not a run folder"),
        (["process", "compare", "--task", "tep_faults", "--models", "gru,svm"], "unknown model 'svm'"),
    ],
)
def test_cli_bad_input_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("heedful: error:") and message in err and "\n" not in err


def test_attention_sufficiency_trains_and_is_validated():
    train, val = toy_split(128, 0), toy_split(64, 1)
    torch.manual_seed(0)
    model = build_model("bigru_attn", ToyData, hidden_size=8)
    cfg = TrainConfig(epochs=2, batch_size=32, lr=1e-2, attention_sufficiency=1.0, attention_keep=0.25)
    assert np.isfinite(fit(model, train, val, cfg, progress=False).history[-1]["loss"])
    with pytest.raises(ValueError, match="attention_keep"):
        TrainConfig(attention_keep=0.0)
    with pytest.raises(ValueError, match="attention_sufficiency"):
        TrainConfig(attention_sufficiency=-1.0)


def _effective_config(line: str) -> bool:
    """A line of the effective-config block a command prints first (heedful.cli.configfile)."""
    return line.startswith(("# effective config", "command: ")) or line.endswith(("  # flag", "  # file"))
