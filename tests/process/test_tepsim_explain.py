"""``heedful process explain`` on ``tep_sim_faults`` runs: the attention around a simulated fault onset."""

import re

import pytest

from heedful.cli import main
from heedful.process.runner import explain_run
from heedful.process.sources import tepsim
from heedful.process.tasks import task_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tepsim_tiny, as_flags):
    """One-epoch bigru_attn and gru runs on tiny simulated runs (the gru has no attention to show)."""
    pytest.importorskip("tep_studio")
    root = tmp_path_factory.mktemp("tepsim_explain")
    task = ["--task", "tep_sim_faults", *as_flags({**tepsim_tiny, "cache": str(root / "cache")})]
    trained = {}
    for model in ("bigru_attn", "gru"):
        out = root / model
        argv = ["process", "train", *task, "--model", model, "--epochs", "1", "--hidden-size", "4"]
        assert main([*argv, "--out", str(out)]) == 0
        (trained[model],) = out.iterdir()
    return trained


def test_explain_draws_a_held_out_test_run_around_its_onset(runs, tepsim_tiny, capsys):
    run = runs["bigru_attn"]
    capsys.readouterr()
    assert main(["process", "explain", str(run), "--fault", "4"]) == 0
    assert (run / "explain_fault4.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "windows straddle the onset and already name fault 4" in out and "of their steps" in out
    named = re.search(r"all 3 windows straddling the onset \(named: (.*?)\)", out).group(1)  # "2 normal, 1 fault 4"
    assert sum(int(part.split()[0]) for part in named.split(", ")) == 3

    summary = explain_run(run, run / "again.png", fault=4)
    cfg = task_config("tep_sim_faults", **tepsim_tiny)
    (spec,) = [s for s in tepsim.specs(cfg, "test") if s.fault == 4]
    assert summary["test_run"] == {"fault": 4, "seed": spec.seed, "onset": 20, "samples": 60}
    assert spec.seed not in {s.seed for split in ("train", "val") for s in tepsim.specs(cfg, split)}  # held out
    # windows of 8, 2 apart, from two windows before the onset (ends 12..) to three after (.. 44): 12 end after it
    assert sum(summary["predictions_after_onset"].values()) == 12
    every = summary["straddling"]  # ends 22, 24, 26: 2, 4 and 6 of their 8 steps after the onset
    assert every["windows"] == 3 and sum(every["predictions"].values()) == 3
    assert every["post_onset_share"] == pytest.approx(0.5) and summary["windows"] <= 3
    assert 0.0 <= summary["post_onset_attention"] <= 1.0 + 1e-6 and 0.0 <= summary["post_onset_share"] < 1.0


@pytest.mark.parametrize(
    ("model", "extra", "message"),
    [
        ("bigru_attn", ["--fault", "2"], "fault 2 is not one of the classes this model was trained on (normal, 1, 4)"),
        ("bigru_attn", ["--fault", "0"], "normal runs have none"),
        ("bigru_attn", ["--fault", "1", "--sample", "1"], "must lie in [0, 1), got 1"),
        ("bigru_attn", [], "tep_sim_faults needs --fault F"),
        ("gru", ["--fault", "1"], "model 'gru' has no attention to show"),
    ],
)
def test_bad_input_is_one_line_exit_2(runs, capsys, model, extra, message):
    capsys.readouterr()
    assert main(["process", "explain", str(runs[model]), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("heedful: error:") and message in err and len(err.splitlines()) == 1
    assert not list(runs[model].glob("explain_fault[0-2].png"))  # nothing drawn
