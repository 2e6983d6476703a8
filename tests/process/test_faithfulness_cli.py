"""`heedful process explain RUN --faithfulness` end to end on a tiny TEP model (what CI runs)."""

import json

import numpy as np
import pytest

from heedful.cli import main

TINY = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--epochs", "2", "--hidden", "8"]
FAST = ["--max-samples", "48", "--ig-steps", "4", "--random-repeats", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny attention run and one without attention."""
    out = tmp_path_factory.mktemp("runs")
    found = {}
    for model in ("bigru_attn", "gru"):
        assert main(["process", "train", "--model", model, *TINY, "--out", str(out / model)]) == 0
        (found[model],) = (out / model).iterdir()
    return found


def test_faithfulness_writes_numbers_and_plot(runs, capsys):
    run = runs["bigru_attn"]
    assert main(["process", "explain", str(run), "--faithfulness", *FAST]) == 0
    out = capsys.readouterr().out
    assert "attention vs random deletion:" in out and "integrated gradients vs random deletion:" in out
    result = json.loads((run / "faithfulness.json").read_text())
    assert result["task"] == "tep_faults" and result["model"] == "bigru_attn" and result["samples"] == 48
    assert set(result["curves"]) == {"attention", "integrated_gradients", "input_x_gradient", "random"}
    assert np.isfinite(result["auc"]["attention"]["deletion"])
    assert set(result["eraser"]["attention"]["comprehensiveness"]) == {"0.01", "0.05", "0.1", "0.2", "0.5"}
    assert (run / "faithfulness.png").read_bytes()[:4] == b"\x89PNG"
    from heedful.report.html import write_report

    page = write_report(run).path.read_text()
    assert "Faithfulness of attention" in page and "attention_vs_random" in page


def _one_line_error(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err, err


def test_model_without_attention_is_one_line(runs, capsys):
    _one_line_error(capsys, ["process", "explain", str(runs["gru"]), "--faithfulness", *FAST], "no attention")


@pytest.mark.parametrize("flag", [["--fractions", "0,0.5"], ["--headline-fraction", "1.5"], ["--fractions", "x"]])
def test_fraction_outside_zero_one_is_one_line(runs, capsys, flag):
    _one_line_error(capsys, ["process", "explain", str(runs["bigru_attn"]), "--faithfulness", *flag], "(0, 1]")


def test_task_without_test_samples_is_one_line(runs, capsys, monkeypatch):
    from heedful.process import faithfulness, runner

    real = runner.load_with_data

    def no_test(run_dir, device="cpu"):
        data, model, config = real(run_dir, device)
        data.test = data.test.__class__(*(a[:0] for a in (data.test.x, data.test.y, data.test.run, data.test.end)))
        return data, model, config

    monkeypatch.setattr(faithfulness, "load_with_data", no_test)
    _one_line_error(capsys, ["process", "explain", str(runs["bigru_attn"]), "--faithfulness"], "no test samples")


def test_comparison_folder_and_missing_run_are_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"command": "process compare", "task": "tep_faults"}))
    _one_line_error(capsys, ["process", "explain", str(tmp_path), "--faithfulness"], "models/NAME")
    _one_line_error(capsys, ["process", "explain", str(tmp_path / "nope"), "--faithfulness"], "config.json")


class ToyForecast:
    name, kind, n_features, horizon = "toy_forecast", "forecast", 3, 4
    feature_names, target_names = ["a", "b", "c"], ["a", "c"]

    class task:
        serves_seq2seq = True


@pytest.mark.parametrize("name", ["seq2seq_attn", "bigru_attn"])
def test_untrained_forecasters_run_through_captum(name):
    """Seq2Seq ((B, S, T) attention, decoded from its own outputs) and a pooled multi-output regressor."""
    import torch

    from heedful.explain import FaithfulnessConfig, measure_faithfulness
    from heedful.process.faithfulness import explainable
    from heedful.process.models import build_model

    torch.manual_seed(0)
    model = build_model(name, ToyForecast, hidden_size=4).eval()
    x = np.random.default_rng(0).normal(size=(12, 10, 3)).astype(np.float32)
    cfg = FaithfulnessConfig(max_samples=12, ig_steps=4, random_repeats=1)
    result = measure_faithfulness(explainable(model, "forecast"), x, config=cfg)
    assert result["kind"] == "regression" and result["base_score"] is None
    assert all(np.isfinite(v) for auc in result["auc"].values() for v in auc.values())


def test_explain_help_lists_the_faithfulness_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["process", "explain", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--faithfulness" in out and "--ig-steps" in out
    assert "--headline-fraction HEADLINE_FRACTION attention vs random deletion" in " ".join(out.split())
