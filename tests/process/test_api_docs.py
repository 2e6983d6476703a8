"""The public API: light to import, one registry for the tasks, and the doc's example runs."""

import re
import subprocess
import sys
from pathlib import Path

import torch

import heedful.process
from heedful.process.names import TASKS

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_package_and_building_the_cli_loads_neither_numpy_nor_torch():
    code = (
        "import sys, heedful.process, heedful.process.config; from heedful.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_export_resolves():
    for name in heedful.process.__all__:
        assert getattr(heedful.process, name) is not None, name


def test_the_registry_holds_every_task_and_no_module_outside_a_task_checks_a_task_name():
    from heedful.process.config import TASK_CONFIGS
    from heedful.process.tasks import registry

    assert tuple(registry()) == TASKS == tuple(TASK_CONFIGS)
    for name, task in registry().items():
        assert task.name == name and task.config_cls is TASK_CONFIGS[name] and task.default_models
    name = r"""["'](tep_faults|pen_[a-z]+)["']"""
    check = re.compile(rf"(==|!=|\bin\b)\s*\(?\s*{name}|{name}\s*(==|!=)")
    src = ROOT / "src" / "heedful"
    offenders = [
        f"{path.relative_to(src)}:{i}"
        for path in src.rglob("*.py")
        if "tasks" not in path.parts
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if check.search(line)
    ]
    assert offenders == []


def test_the_docs_example_runs():
    text = (ROOT / "docs" / "process.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert 5 <= len(code.strip().splitlines()) <= 14
    torch.set_num_threads(1)
    exec(compile(code, "docs/process.md", "exec"), {})
