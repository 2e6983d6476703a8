"""``--config FILE`` on the commands: precedence (an explicit flag wins, also at its default), what a bad file
gives (one line naming the key, exit 2), the printed effective config, and ``--debug`` after the sub-command."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heedful.cli import build_parser, main
from heedful.cli.configfile import apply_config, given_flags
from heedful.errors import InputError
from heedful.process.config import TableConfig


def resolved(argv: list[str]):
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_config(parser, args, argv)
    return args


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("heedful: error:"), err
    for needle in needles:
        assert needle in err, err
    return err


def test_an_explicit_flag_wins_also_when_it_equals_its_default(tmp_path):
    cfg = write(tmp_path / "demo.yaml", "epochs: 3\nlr: 0.05\nprocess_window: 30\n")
    args = resolved(["demo", "--config", cfg, "--epochs", "6"])  # 6 is the default
    assert (args.epochs, args.lr, args.process_window) == (6, 0.05, 30)
    assert args.config_sources == {"epochs": "flag", "lr": cfg, "process_window": cfg}


def test_sections_and_flag_spellings_are_read_through(tmp_path):
    cfg = write(tmp_path / "demo.toml", '"--n-train" = 50\n[process]\nepochs = 2\nfaults = [0, 1]\n')
    args = resolved(["demo", "--config", cfg])
    assert (args.n_train, args.process_epochs, args.process_faults) == (50, 2, (0, 1))


def test_given_flags_sees_values_equal_to_defaults():
    parser = build_parser()
    assert given_flags(parser, ["demo", "--epochs", "6"]) & {"epochs", "lr", "seed"} == {"epochs"}
    assert "window" in given_flags(parser, ["process", "train", "--task", "table", "--window", "0"])


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("epoch: 3\n", ["unknown key 'epoch'", "did you mean 'epochs'"]),
        ("epochs: three\n", ["epochs must be an integer, got 'three'"]),
        ("lr: .inf\n", ["lr must be a finite number"]),
        ("command: rationale train\n", ["a config of 'heedful rationale train', not of 'heedful demo'"]),
        ("[1, 2]\n", ["expected a mapping"]),
        ("epochs: [\n", ["not valid YAML"]),
    ],
)
def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path, capsys, text, needles):
    cfg = write(tmp_path / "bad.yaml", text)
    assert main(["demo", "--config", cfg, "--out", str(tmp_path / "runs")]) == 2
    one_line_error(capsys, "bad.yaml", *needles)
    assert not (tmp_path / "runs").exists()


def test_choices_are_checked_for_file_values_too(tmp_path, capsys):
    cfg = write(tmp_path / "p.yaml", "method: magic\n")
    assert main(["rationale", "predict", "--config", cfg]) == 2
    one_line_error(capsys, "p.yaml: method must be one of knn, lm, got 'magic'")


def test_a_parameter_of_another_task_names_the_file_and_the_key(tmp_path, capsys):
    cfg = write(tmp_path / "tep.yaml", "task: tep_faults\nfaults: [0, 1]\n")
    assert main(["process", "data", "--config", cfg, "--task", "pen_phase"]) == 2
    one_line_error(capsys, "tep.yaml: 'faults' is not a parameter of task pen_phase")


def test_debug_is_accepted_after_the_sub_command(tmp_path):
    cfg = write(tmp_path / "bad.yaml", "epochs: 0\n")
    with pytest.raises(InputError, match="epochs must be >= 1"):  # --debug: the traceback, not one line
        main(["demo", "--config", cfg, "--debug"])


def test_the_effective_config_is_printed_once_at_the_start(tmp_path, capsys):
    cfg = write(tmp_path / "t.yaml", "task: tep_faults\nfaults: [0, 1, 2]\nwindow: 10\n")
    assert main(["process", "data", "--config", cfg, "--window", "12"]) == 0
    out = capsys.readouterr().out
    block, rest = out.split("command: process data\n", 1)
    assert block.startswith("# effective config (flags > ") and out.count("# effective config") == 1
    assert "window: 12  # flag" in rest and 'task:   "tep_faults"  # file' in rest and "faults: [0, 1, 2]" in rest
    assert "12 steps" in rest  # the flag's value is what was built


# --- the table task: flag > config file > schema file > default ------------------------------------------


def table_folder(folder) -> str:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        t = np.arange(24)
        frame = pd.DataFrame({"time": t, "a": rng.normal(size=24), "phase": (t >= 12).astype(int)})
        frame.to_csv(folder / f"b{i}.csv", index=False)
    return str(folder)


def test_a_keyword_wins_over_the_schema_also_at_its_default(tmp_path):
    data = table_folder(tmp_path / "d")
    schema = write(tmp_path / "plant.toml", f'path = "{data}"\ntarget_column = "phase"\nwindow = 6\n')
    assert TableConfig(schema=schema).window == 6
    assert TableConfig(schema=schema, window=0).window == 0
    # a run's config.json holds every field: rebuilding it reads nothing (the schema may have moved)
    every = dataclasses.asdict(TableConfig(schema=schema, window=0))
    (tmp_path / "plant.toml").unlink()
    assert TableConfig(**every).window == 0


def test_flag_over_config_file_over_schema_on_the_command_line(tmp_path, capsys):
    data = table_folder(tmp_path / "d")
    text = f'path = "{data}"\ntime_column = "time"\ntarget_column = "phase"\nwindow = 6\n'
    schema = write(tmp_path / "plant.toml", text)
    base = ["process", "data", "--task", "table", "--schema", schema]
    assert main(base) == 0 and "samples of 6 steps" in capsys.readouterr().out
    assert main([*base, "--window", "0"]) == 0 and "samples of 24 steps" in capsys.readouterr().out
    cfg = write(tmp_path / "c.yaml", "window: 4\n")
    assert main([*base, "--config", cfg]) == 0 and "samples of 4 steps" in capsys.readouterr().out
    assert main([*base, "--config", cfg, "--window", "0"]) == 0 and "samples of 24 steps" in capsys.readouterr().out


# --- property: any typed value for any option of a command --------------------------------------------------

DEMO_KEYS = ["epochs", "lr", "seed", "n_train", "process_faults", "process_window", "out"]
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(0, 30), max_size=4),
)


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(st.sampled_from(DEMO_KEYS), anything, max_size=4))
def test_any_demo_config_is_applied_with_its_types_or_refused_by_key(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("c") / "c.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    argv = ["demo", "--config", str(path)]
    try:
        args = resolved(argv)
    except InputError as err:
        assert str(err).startswith(f"{path}: ") and any(k in str(err) for k in data), err
        return
    for key, value in data.items():
        got = getattr(args, key)
        assert got == (tuple(value) if isinstance(value, list) else value)
        assert not isinstance(value, str) or isinstance(got, str)


def test_a_key_may_be_the_flag_name_where_the_destination_differs(tmp_path):
    cfg = write(tmp_path / "v.yaml", f"out: {tmp_path / 'f.npz'}\nframes: {tmp_path}\nclip: {tmp_path}\n")
    args = resolved(["rationale", "visual", "--config", cfg])
    assert args.npz == str(tmp_path / "f.npz") and args.frames == str(tmp_path)


def test_a_required_flag_left_out_everywhere_is_one_line(tmp_path, capsys):
    assert main(["rationale", "visual", "--frames", str(tmp_path)]) == 2
    one_line_error(capsys, "the following arguments are required: --clip, --out (as flags or in --config)")


def test_the_printed_config_hides_the_service_token(tmp_path, capsys):
    parser = build_parser()
    argv = ["serve", "--token", "s3cret", "--port", "8001"]
    args = parser.parse_args(argv)
    apply_config(parser, args, argv)
    out = capsys.readouterr().out
    assert "s3cret" not in out and 'token: "(hidden)"  # flag' in out and "port:  8001  # flag" in out
    assert args.token == "s3cret"  # hidden in the print only
