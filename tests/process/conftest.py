import pytest

from heedful.cli import main
from heedful.process.tasks import build_task

TEP_ARGS = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--stride", "4", "--test-stride", "4"]


@pytest.fixture(scope="session")
def small_tep():
    """Normal operation and two clear faults, short windows: quick to train on."""
    return build_task("tep_faults", window=10, faults=(0, 1, 2))


@pytest.fixture(scope="session")
def pen_params(tmp_path_factory):
    """Tiny IndPenSim batch sets (6 batches of 30-34 h; faults: 6 batches of 30 h), generated once per session.
    Returns a function: task name -> task parameters suited to these short batches."""
    cache = str(tmp_path_factory.mktemp("indpensim"))
    common = {"batches": 6, "cache": cache, "min_hours": 30.0, "max_hours": 34.0}
    special = {
        "pen_faults": {"min_hours": 30.0, "max_hours": 30.0, "window": 10, "stride": 5},
        "pen_endtime": {"threshold": 0.2, "observe_hours": 10.0},
        "pen_repair": {"window": 24, "stride": 24, "max_gap": 10},
    }
    return lambda task: {**common, **special.get(task, {})}


@pytest.fixture(scope="session")
def tep_run(tmp_path_factory):
    """A one-epoch bigru_attn run on TEP faults 0-2 (10-sample windows), trained through the CLI once."""
    out = tmp_path_factory.mktemp("teprun")
    argv = ["process", "train", "--model", "bigru_attn", *TEP_ARGS, "--epochs", "1", "--hidden-size", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


@pytest.fixture(scope="session")
def tepsim_tiny():
    """Tiny ``tep_sim_faults`` parameters: faults 0, 1 and 4; 3 h test runs with the onset at sample 20; 8-sample
    windows (no cache: each module adds its own)."""
    return {
        "faults": "0,1,4",
        "train_runs": 2,
        "val_runs": 1,
        "val_normal_runs": 2,
        "test_runs": 1,
        "train_hours": 2.0,
        "train_onset_hours": 0.5,
        "test_hours": 3.0,
        "test_onset_hours": 1.0,
        "window": 8,
        "stride": 2,
        "test_stride": 1,
    }


@pytest.fixture(scope="session")
def as_flags():
    """Task parameters -> their CLI flags (``train_runs=2`` -> ``--train-runs 2``)."""
    return lambda params: [arg for k, v in params.items() for arg in (f"--{k.replace('_', '-')}", str(v))]
