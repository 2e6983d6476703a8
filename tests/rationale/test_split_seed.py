"""``--split-seed`` draws the clip-disjoint split, ``--seed`` the command's own randomness: changing --seed keeps
the split, changing --split-seed changes it; a run saved before the split had its own seed (config.json without
``split_seed``) gets the split its seed drew; a command on a run's held-out split uses the run's split seed."""

import json

import pytest

from heedful.cli import build_parser, main
from heedful.cli.rationale_data import data_config, held_out
from heedful.rationale.data.config import DataConfig, load_split


def dev_ids(cfg: DataConfig) -> list[str]:
    return [s.sample_id for s in load_split(cfg.with_split("dev")).samples]


def parsed(*argv):
    args = build_parser().parse_args(["rationale", *argv])
    args.config_sources = {}  # as the CLI's entry point sets it: nothing came from a file
    return args


def test_the_seed_keeps_the_split_and_the_split_seed_moves_it():
    base = dev_ids(DataConfig())
    assert dev_ids(DataConfig(seed=7)) == base
    assert dev_ids(DataConfig(split_seed=7)) != base
    assert dev_ids(DataConfig(split_seed=7, seed=3)) == dev_ids(DataConfig(split_seed=7))


@pytest.mark.parametrize("command", ["train", "pretrain"])
def test_training_commands_take_both_seeds(command):
    base = dev_ids(data_config(parsed(command)))
    trained = data_config(parsed(command, "--seed", "7"))
    assert trained.seed == 7 and trained.split_seed == 0 and dev_ids(trained) == base
    moved = data_config(parsed(command, "--split-seed", "7"))
    assert moved.split_seed == 7 and dev_ids(moved) != base


def test_predict_seed_is_the_sampling_seed_not_the_split():
    from heedful.cli.flags import config_from_args
    from heedful.rationale.lm.config import GenerateConfig

    args = parsed("predict", "--method", "lm", "--seed", "5")
    assert config_from_args(GenerateConfig, args).seed == 5 and data_config(args).split_seed == 0


@pytest.mark.parametrize("command", ["data", "index", "retrieve", "visual"])
def test_commands_that_only_split_have_no_seed(command, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["rationale", command, "--seed", "3"])
    assert stop.value.code == 2 and "--seed" in capsys.readouterr().err


def test_a_run_saved_without_a_split_seed_keeps_its_split(tmp_path):
    old = {"data": None, "split": "dev", "dev_fraction": 0.2, "seed": 3, "skip_invalid": False}
    assert DataConfig.from_saved(old).split_seed == 3
    assert dev_ids(DataConfig.from_saved(old)) == dev_ids(DataConfig(split_seed=3)) != dev_ids(DataConfig())
    new = old | {"split_seed": 1}
    assert DataConfig.from_saved(new).split_seed == 1 and DataConfig.from_saved(new).seed == 3
    (tmp_path / "config.json").write_text(json.dumps({"command": "rationale index", "data": old}))
    assert held_out(tmp_path) == {"split_seed": 3, "dev_fraction": 0.2}


def test_replaying_an_old_data_run_draws_its_split(tmp_path, capsys):
    old = tmp_path / "old"
    old.mkdir()
    data = {"data": None, "split": "dev", "dev_fraction": 0.2, "seed": 3, "skip_invalid": False}
    (old / "config.json").write_text(json.dumps({"command": "rationale data", "data": data, "visual": None}))
    assert main(["rationale", "data", "--config", str(old / "config.json"), "--out", str(tmp_path / "r")]) == 0
    (run,) = (tmp_path / "r").iterdir()
    saved = json.loads((run / "samples.json").read_text())
    assert [s["sample_id"] for s in saved] == dev_ids(DataConfig(split_seed=3))
    assert json.loads((run / "config.json").read_text())["data"]["split_seed"] == 3


def test_retrieve_reads_the_split_its_index_held_out(tmp_path, capsys):
    common = ["--encoder", "hash:8", "--cache-dir", str(tmp_path / "cache")]
    assert main(["rationale", "index", "--split-seed", "5", *common, "--out", str(tmp_path / "i")]) == 0
    (index,) = (tmp_path / "i").iterdir()
    assert json.loads((index / "config.json").read_text())["data"]["split_seed"] == 5

    def retrieved(*flags) -> list[str]:
        out = tmp_path / f"r{len(list(tmp_path.glob('r*')))}"
        assert main(["rationale", "retrieve", "--index", str(index), *flags, "--out", str(out)]) == 0
        (run,) = out.iterdir()
        return [r["sample_id"] for r in json.loads((run / "retrievals.json").read_text())]

    assert retrieved() == dev_ids(DataConfig(split_seed=5))
    assert retrieved("--split-seed", "0") == dev_ids(DataConfig()) != dev_ids(DataConfig(split_seed=5))
