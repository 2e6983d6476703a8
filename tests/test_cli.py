import json
import subprocess
import sys

import pytest

from heedful.cli import main
from heedful.runs import atomic_write, write_json


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heedful", *args], capture_output=True, text=True, timeout=120)


def test_help_does_not_import_torch():
    code = "import sys; from heedful.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    result = run_cli("--help")
    assert result.returncode == 0 and "demo" in result.stdout


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    result = run_cli("demo", "--epochs", "0", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "heedful: error: epochs must be >= 1, got 0"
    assert "Traceback" not in result.stderr


def test_unknown_command_exits_2():
    assert run_cli("fly").returncode == 2


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})

    def boom(path):
        path.write_text("partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert json.loads(target.read_text()) == {"a": 1}  # the old file survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    (run_dir,) = tmp_path.iterdir()
    assert {p.name for p in run_dir.iterdir()} == {
        "config.json",
        "metrics.json",
        "reversal_attention.png",
        "fault_attention.png",
        "tep_fault4_attention.png",
        "process",
    }
    config = json.loads((run_dir / "config.json").read_text())
    assert config["command"] == "demo" and config["sequence"]["epochs"] == 6
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rev, fault = metrics["reversal"], metrics["fault_detection"]
    assert rev["bahdanau"]["exact_match_greedy"] >= 0.9
    assert rev["bahdanau"]["exact_match_greedy"] > rev["no_attention"]["exact_match_greedy"] + 0.2
    assert fault["accuracy"] >= 0.9
    # the classifier's attention concentrates on the fault window, far above its share of the steps
    assert fault["attention_mass_in_fault_window"] > 3 * fault["fault_window_share_of_steps"]
    assert (run_dir / "reversal_attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert min(metrics["process"]["per_fault_accuracy"].values()) >= 0.8  # real TEP faults 1, 2, 4
    assert "run folder:" in capsys.readouterr().out
