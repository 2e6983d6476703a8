"""Trains the tiny TEP task straight through the CLI, and again through the library interrupted after its first
epoch and resumed (run by ``test_ddp.py``, alone or under ``accelerate launch``)."""

import contextlib
import sys
from pathlib import Path

from heedful.cli import main
from heedful.process.runner import train_run

TASK = {"faults": (0, 1, 2), "window": 10, "stride": 4, "test_stride": 4}
MODEL = {"hidden_size": 8, "dropout": 0.0}  # no dropout: the processes' shares then see what one process sees
TRAIN = {"epochs": 3, "batch_size": 64}


class Stop(Exception):
    pass


def stop_after_first(record: dict) -> None:
    """Every process stops at the end of the second epoch, before it is saved: the resume starts after the first."""
    if record["epoch"] == 2:
        raise Stop


def run(out: Path) -> None:
    """``out/a``: the CLI run; ``out/b``: the interrupted and resumed one."""
    flags = ["--faults", "0,1,2", "--window", "10", "--stride", "4", "--test-stride", "4", "--hidden-size", "8"]
    flags += ["--dropout", "0", "--epochs", "3", "--batch-size", "64"]
    code = main(["process", "train", "--task", "tep_faults", "--model", "bigru_attn", *flags, "--out", str(out / "a")])
    assert code == 0, code
    with contextlib.suppress(Stop):
        train_run("tep_faults", "bigru_attn", TASK, MODEL, TRAIN, out / "b", progress=False, on_epoch=stop_after_first)
    (run_dir,) = (out / "b").iterdir()
    train_run(None, None, resume=run_dir, progress=False)


if __name__ == "__main__":
    run(Path(sys.argv[1]))
