"""Hostile input on the process track: every case is one line on stderr with exit code 2, or a cache
that repairs itself; never a traceback."""

import json
import os
import shutil

import numpy as np
import pytest

from heedful.cli import main
from heedful.process.sources import tep

TEP = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--stride", "4", "--test-stride", "4"]
SMALL = ["--epochs", "1", "--hidden-size", "4"]


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.startswith("heedful: error:") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert str(needle) in err, err
    return err


@pytest.fixture
def run_copy(tep_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tep_run, copy)
    return copy


@pytest.fixture(scope="module")
def tep_csv(tmp_path_factory):
    values = tep.load_run(1, "test").values[140:200]
    path = tmp_path_factory.mktemp("csv") / "run.csv"
    np.savetxt(path, values, delimiter=",", header=",".join(tep.VARIABLE_NAMES), comments="")
    return path


def _damage(path, how):
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "emptied": b"", "garbage": os.urandom(64)}[how])


DAMAGE = ("truncated", "emptied", "garbage")


# --- damaged run files --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("name", ["checkpoint/best.safetensors", "config.json"])
def test_damaged_run_files_are_named_by_predict_and_explain(run_copy, tep_csv, name, how, capsys):
    _damage(run_copy / name, how)
    assert main(["process", "predict", str(run_copy), "--csv", str(tep_csv)]) == 2
    _one_line_error(capsys, run_copy / name)
    assert main(["process", "explain", str(run_copy), "--fault", "1"]) == 2
    _one_line_error(capsys, run_copy / name)


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize(
    "name", ["state.json", "step-*/model.safetensors", "step-*/optimizer.safetensors", "step-*/optimizer.json"]
)
def test_damaged_checkpoint_files_are_named_on_resume(run_copy, name, how, capsys):
    (path,) = (run_copy / "checkpoint").glob(name)
    _damage(path, how)
    assert main(["process", "train", "--resume", str(run_copy)]) == 2
    _one_line_error(capsys, path)


def test_run_config_without_model_or_with_another_size_is_one_line(run_copy, tep_csv, capsys):
    config = json.loads((run_copy / "config.json").read_text())
    (run_copy / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "model"}))
    assert main(["process", "predict", str(run_copy), "--csv", str(tep_csv)]) == 2
    _one_line_error(capsys, "config.json", "no 'model' entry")
    config["model_params"]["hidden_size"] = 9
    (run_copy / "config.json").write_text(json.dumps(config))
    assert main(["process", "predict", str(run_copy), "--csv", str(tep_csv)]) == 2
    _one_line_error(capsys, "best.safetensors", "has shape")
    config["model_params"]["hidden_size"] = "nine"
    (run_copy / "config.json").write_text(json.dumps(config))
    assert main(["process", "explain", str(run_copy), "--fault", "1"]) == 2
    _one_line_error(capsys, "config.json")


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_metrics_of_a_comparison_are_named_on_resume(tmp_path, how, capsys):
    assert main(["process", "compare", *TEP, "--models", "logistic", "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    path = run / "models" / "logistic" / "metrics.json"
    _damage(path, how)
    assert main(["process", "compare", "--resume", str(run)]) == 2
    _one_line_error(capsys, path)


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_indpensim_cache_entries_are_rebuilt(tmp_path, how):
    from heedful.process.config import GenerationConfig
    from heedful.process.sources import indpensim as ip

    cfg = GenerationConfig(batches=2, min_hours=2, max_hours=2)
    first = ip.generate(ip.specs(cfg), tmp_path, progress=False)
    entry = tmp_path / f"{ip.specs(cfg)[1].key()}.npz"
    _damage(entry, how)
    again = ip.generate(ip.specs(cfg), tmp_path, progress=False)
    assert again.computed == 1
    np.testing.assert_array_equal(again.batches[1].values, first.batches[1].values)
    assert ip.generate(ip.specs(cfg), tmp_path, progress=False).computed == 0  # repaired on disk


def test_checkpoint_and_run_files_are_readable_by_others(tep_run):
    for path in [*tep_run.rglob("*.safetensors"), *tep_run.rglob("*.json")]:
        assert path.stat().st_mode & 0o777 == 0o666 & ~_umask(), path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- flags --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["process", "data", *TEP[:4], "--window", "0"], "window must lie in [2, 160], got 0"),
        (["process", "data", "--source", "indpensim", "--batches", "0"], "batches must be >= 1, got 0"),
        (["process", "train", "--task", "pen_quality", "--batches", "0"], "at least 5 batches"),
        (["process", "train", "--task", "pen_quality", "--batches", "-3"], "at least 5 batches"),
        (["process", "train", "--task", "tep_faults", "--faults", "0,1,1"], "[1] given more than once"),
        (["process", "compare", *TEP, "--models", ","], "no model names"),
        (["process", "compare", *TEP, "--models", "gru,gru"], "more than once"),
        (["process", "train", "--task", "pen_endtime", "--set", "threshold=nan"], "expected a finite number"),
        (["process", "train", "--task", "pen_endtime", "--set", "threshold=inf"], "expected a finite number"),
        (["process", "train", "--task", "pen_phase", "--set", "every=2.5"], "every: expected an integer"),
        (["process", "train", "--task", "pen_phase", "--every", "0"], "every must be >= 1, got 0"),
        (["process", "train", "--task", "tep_faults", "--every", "2"], "unknown parameters ['every']"),
        (["process", "train", "--task", "tep_faults", "--lr", "-1"], "lr and grad_clip must be > 0"),
        (["process", "train", "--task", "tep_faults", "--dropout", "1"], "dropout must lie in [0, 1)"),
        (["process", "train", "--window", "20"], "give --task NAME (or --resume RUN)"),
    ],
)
def test_bad_flag_values_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    _one_line_error(capsys, message)


@pytest.mark.parametrize("flag", ["--lr", "--noise", "--clip"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_flags_are_usage_errors(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["process", "train", "--task", "tep_faults", f"{flag}={value}"])
    assert exit_.value.code == 2 and "finite" in capsys.readouterr().err


def test_out_naming_a_folder_or_a_file_is_refused_by_name(tep_run, tep_csv, tmp_path, capsys):
    assert main(["process", "predict", str(tep_run), "--csv", str(tep_csv), "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, f"--out {tmp_path}: is a folder")
    assert main(["process", "explain", str(tep_run), "--fault", "1", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, f"--out {tmp_path}: is a folder")
    assert main(["process", "train", *TEP, *SMALL, "--out", str(tep_csv)]) == 2
    _one_line_error(capsys, f"--out {tep_csv}: is a file")


def test_explain_refuses_a_fault_the_model_never_learned(tep_run, capsys):
    assert main(["process", "explain", str(tep_run), "--fault", "5"]) == 2
    _one_line_error(capsys, "fault 5 is not one of the classes", "normal, 1, 2")
    assert not list(tep_run.glob("explain_fault5*"))


# --- predict CSV --------------------------------------------------------------------------------------


def test_csv_headers_are_matched_by_name(tep_run, tep_csv, tmp_path, capsys):
    values = np.loadtxt(tep_csv, delimiter=",", skiprows=1)
    order = np.random.default_rng(0).permutation(52)
    names = [tep.VARIABLE_NAMES[i] for i in order]
    shuffled = tmp_path / "shuffled.csv"
    np.savetxt(shuffled, values[:, order], delimiter=",", header=",".join(names), comments="")
    outs = []
    for path in (tep_csv, shuffled):
        assert main(["process", "predict", str(tep_run), "--csv", str(path), "--out", str(tmp_path / "p.json")]) == 0
        outs.append(json.loads((tmp_path / "p.json").read_text()))
    assert outs[0] == outs[1]
    capsys.readouterr()
    misspelt = tmp_path / "misspelt.csv"
    names[3] = names[3].lower()
    np.savetxt(misspelt, values[:, order], delimiter=",", header=",".join(names), comments="")
    assert main(["process", "predict", str(tep_run), "--csv", str(misspelt)]) == 2
    _one_line_error(capsys, f"lacks the columns ['{tep.VARIABLE_NAMES[order[3]]}']")
    wrong = tmp_path / "wrong.csv"
    np.savetxt(wrong, values, delimiter=",", header=",".join(f"v{i}" for i in range(52)), comments="")
    assert main(["process", "predict", str(tep_run), "--csv", str(wrong)]) == 2
    _one_line_error(capsys, "lacks the columns ['XMEAS(1)'")


def test_a_value_beyond_float32_is_named_by_row_and_column(tep_run, tep_csv, tmp_path, capsys):
    values = np.loadtxt(tep_csv, delimiter=",", skiprows=1)
    values[7, 2] = 1e300
    path = tmp_path / "huge.csv"
    np.savetxt(path, values, delimiter=",", header=",".join(tep.VARIABLE_NAMES), comments="")
    assert main(["process", "predict", str(tep_run), "--csv", str(path)]) == 2
    _one_line_error(capsys, "row 7, column 'XMEAS(3)'", "beyond float32")


# --- resume and seeds ---------------------------------------------------------------------------------


def test_resume_alone_works_and_disagreeing_values_are_refused(run_copy, capsys):
    assert main(["process", "train", "--resume", str(run_copy), "--epochs", "2"]) == 2
    _one_line_error(capsys, "--epochs 2 disagrees", "(1)")
    assert main(["process", "train", "--resume", str(run_copy), "--task", "pen_phase"]) == 2
    _one_line_error(capsys, "--task pen_phase disagrees")
    assert main(["process", "train", "--resume", str(run_copy), "--model", "gru"]) == 2
    _one_line_error(capsys, "--model gru disagrees")
    assert main(["process", "train", "--resume", str(run_copy), "--window", "12"]) == 2
    _one_line_error(capsys, "--window 12 disagrees")
    assert main(["process", "train", "--resume", str(run_copy), "--faults", "0,1,2", "--epochs", "1"]) == 0
    assert main(["process", "train", "--resume", str(run_copy)]) == 0
    assert "run folder:" in capsys.readouterr().out


def test_train_seed_makes_runs_identical(tmp_path):
    histories = []
    for out in ("a", "b"):
        argv = ["process", "train", "--model", "gru", *TEP, "--epochs", "2", "--hidden-size", "4", "--seed", "3"]
        assert main([*argv, "--out", str(tmp_path / out)]) == 0
        (run,) = (tmp_path / out).iterdir()
        histories.append(json.loads((run / "history.json").read_text()))
    assert histories[0][0]["loss"] == histories[1][0]["loss"] and histories[0] == histories[1]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_configs_refuse_non_finite_numbers(value):
    from heedful.errors import InputError
    from heedful.process.config import PenEndtimeConfig, TEPFaultsConfig, TrainConfig

    for build in (
        lambda: PenEndtimeConfig(threshold=value),
        lambda: TEPFaultsConfig(clip=value),
        lambda: TrainConfig(lr=value),
    ):
        with pytest.raises(InputError, match="must be a finite number"):
            build()
