"""``--config RUN/config.json`` replays a process run: every recorded setting comes back as the flag's value."""

import json
import re

import pytest

from heedful.cli import build_parser, main
from heedful.cli.configfile import apply_config


def replayed(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_config(parser, args, argv)
    return args


def test_a_train_run_config_replays_every_setting(tep_run):
    record = json.loads((tep_run / "config.json").read_text())
    args = replayed(["process", "train", "--config", str(tep_run / "config.json"), "--epochs", "2"])
    assert (args.task, args.model, args.epochs) == (record["task"], record["model"], 2)  # the flag wins
    for section in ("task_params", "model_params", "train"):
        for key, value in record[section].items():
            if section == "train" and key == "epochs":
                continue
            got = getattr(args, key)
            assert (list(got) if isinstance(got, tuple) else got) == value, key


def test_a_run_config_is_refused_by_another_command_and_task(tep_run, capsys):
    assert main(["process", "compare", "--config", str(tep_run / "config.json")]) == 2
    err = capsys.readouterr().err
    assert "a config of 'heedful process train', not of 'heedful process compare'" in err
    assert len(err.splitlines()) == 1
    assert main(["process", "train", "--config", str(tep_run / "config.json"), "--task", "pen_phase"]) == 2
    err = capsys.readouterr().err
    assert (
        re.search(r"config.json: 'alarm_\w+' is not a parameter of task pen_phase", err) and len(err.splitlines()) == 1
    )


@pytest.mark.slow
def test_replaying_a_run_trains_the_same_model(tep_run, tmp_path, capsys):
    assert main(["process", "train", "--config", str(tep_run / "config.json"), "--out", str(tmp_path)]) == 0
    (again,) = tmp_path.iterdir()
    first, second = (json.loads((run / "metrics.json").read_text()) for run in (tep_run, again))
    assert first["test"] == second["test"]
    strip = lambda c: {k: v for k, v in c.items() if k != "command"}  # noqa: E731
    assert strip(json.loads((again / "config.json").read_text())) == strip(
        json.loads((tep_run / "config.json").read_text())
    )
