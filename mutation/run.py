"""Mutation testing with Cosmic Ray on a seeded sample of each module's mutants. Not in CI: about 40 min for all four.

    python mutation/run.py [NAME ...] [--sample 60] [--seed 0] [--budget MINUTES]

NAME is a session config ``mutation/NAME.toml`` (default: all of them). The tree (src, tests, pyproject.toml) is
copied to ``.mutation/tree`` first, so your working tree is never mutated, and the tests run with
``PYTHONPATH=src`` from the copy. Each session keeps ``.mutation/NAME.sqlite`` (rerun ``cosmic-ray exec`` there to
finish an interrupted one); the summary (kill rate and every surviving mutant's diff) is printed and written to
``.mutation/NAME.txt``. A mutant is killed when its tests fail or exceed the config's per-run timeout (counted apart).
``--budget`` stops a session after that many minutes and reports the mutants done so far.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "mutation"
WORK = ROOT / ".mutation"
TREE = WORK / "tree"
COPIED = ("src", "tests", "pyproject.toml")


def main() -> int:
    names = sorted(p.stem for p in HERE.glob("*.toml"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="one of: " + ", ".join(names))
    parser.add_argument("--sample", type=int, default=60, help="mutants per module, drawn with --seed (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=None, help="minutes per module before stopping early")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown session {', '.join(unknown)}; expected some of: {', '.join(names)}")
    copy_tree()
    lines = [run_session(name, args.sample, args.seed, args.budget) for name in args.names or names]
    print("\n| module | killed | timed out | survived | incompetent | kill rate |\n|---|---|---|---|---|---|")
    print("\n".join(lines))
    return 0


def copy_tree() -> None:
    shutil.rmtree(TREE, ignore_errors=True)
    TREE.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in COPIED:
        src = ROOT / name
        (shutil.copytree(src, TREE / name, ignore=ignore) if src.is_dir() else shutil.copy2(src, TREE / name))


def cosmic_ray(*args: str, timeout: float | None = None) -> None:
    env = dict(os.environ, PYTHONPATH="src", HF_HUB_OFFLINE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # "python" = this interpreter
    exe = Path(sys.executable).parent / "cosmic-ray"
    proc = subprocess.Popen([str(exe), *args], cwd=TREE, env=env, start_new_session=True)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # results so far are in the session; a running test ends on its own
        proc.wait()
        print(f"  stopped after the budget of {timeout / 60:.0f} min", flush=True)
        return
    if proc.returncode:
        raise SystemExit(f"cosmic-ray {args[0]} failed with exit code {proc.returncode}")


def run_session(name: str, sample: int, seed: int, budget: float | None) -> str:
    from cosmic_ray.work_db import use_db

    config, session = HERE / f"{name}.toml", WORK / f"{name}.sqlite"
    session.unlink(missing_ok=True)
    start = time.monotonic()
    cosmic_ray("init", str(config), str(session))
    with use_db(str(session)) as db:
        items = db.work_items
        spans = annotation_spans(TREE / items[0].mutations[0].module_path)
        live = [it for it in items if not any(a <= it.mutations[0].start_pos < b for a, b in spans)]
        chosen = random.Random(seed).sample(live, min(sample, len(live)))
        db.clear()
        db.add_work_items(chosen)
    skipped = len(items) - len(live)
    print(f"== {name}: {len(chosen)} of {len(live)} mutants ({skipped} in annotations left out)", flush=True)
    cosmic_ray("baseline", str(config))  # the unmutated tests must pass, or every mutant would look killed
    cosmic_ray("exec", str(config), str(session), timeout=None if budget is None else budget * 60)
    return summarize(name, session, time.monotonic() - start)


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of type annotations. Under ``from __future__ import annotations`` they are never
    evaluated, so mutating them (``Tensor | None`` -> ``Tensor >> None``) gives equivalent mutants that no test can
    kill; they are about a fifth of the mutants here."""
    tree = ast.parse(path.read_text())
    future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)
    if not future:
        return []
    nodes = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            nodes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            nodes.append(node.returns)
    return [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in nodes]


def summarize(name: str, session: Path, seconds: float) -> str:
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import TestOutcome

    with use_db(str(session)) as db:
        done = db.completed_work_items
        total = db.num_work_items
    counts = Counter()
    survivors = []
    for item, result in done:
        if result.test_outcome == TestOutcome.KILLED:
            counts["timeout" if result.output == "timeout" else "killed"] += 1
        elif result.test_outcome == TestOutcome.SURVIVED:
            counts["survived"] += 1
            mutation = item.mutations[0]
            where = f"{mutation.module_path}:{mutation.start_pos[0]} {mutation.operator_name}"
            survivors.append(f"-- survived: {where}\n{result.diff}")
        else:
            counts["incompetent"] += 1
    competent = counts["killed"] + counts["timeout"] + counts["survived"]
    rate = (counts["killed"] + counts["timeout"]) / competent if competent else float("nan")
    head = f"{name}: {len(done)} of {total} sampled mutants run in {seconds / 60:.1f} min; kill rate {rate:.0%}"
    report = "\n".join([head, dict(counts).__repr__(), *survivors])
    (WORK / f"{name}.txt").write_text(report + "\n")
    print(report, flush=True)
    cells = [counts["killed"], counts["timeout"], counts["survived"], counts["incompetent"], f"{rate:.0%}"]
    return f"| {name} | " + " | ".join(map(str, cells)) + " |"


if __name__ == "__main__":
    sys.exit(main())
