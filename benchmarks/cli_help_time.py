"""Start-up time of ``heedful --help`` and of every sub-command's ``--help``, each in a fresh Python process.

The target is under 1 s each. Every command is run ``--repeats`` times, interleaved (so a busy machine slows all of
them alike), and the median wall time is printed with the slowest. A second table times the libraries that could
build the flags from the configs instead (import only, or import and three configs' flags), for docs/benchmarks.md.

    python benchmarks/cli_help_time.py [--repeats 5] [--libraries]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def commands() -> list[list[str]]:
    """Every command path of the CLI: [], ['demo'], ['process', 'train'], ..."""
    from heedful.cli import build_parser

    found = []

    def walk(parser, path):
        found.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(build_parser(), [])
    return found


# as installed: byte-code caches written and used (PYTHONDONTWRITEBYTECODE would recompile every module each time)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"HF_HUB_OFFLINE": "1"}


def seconds(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run. CPU time (user + system) is what the wall time would be on an idle core:
    on a machine shared with other jobs the wall time also counts the waiting."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(runs: dict[str, list[str]], repeats: int) -> dict[str, list[tuple[float, float]]]:
    for argv in runs.values():  # warm-up: byte-code caches, file system caches
        seconds(argv)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, argv in runs.items():
            times[label].append(seconds(argv))
    return times


LIBRARIES = {
    "python -c pass (interpreter start)": "pass",
    "import argparse": "import argparse",
    "import pydantic": "import pydantic",
    "import yaml": "import yaml",
    "import jsonargparse": "import jsonargparse",
    "import tyro": "import tyro",
    "import transformers.hf_argparser (HfArgumentParser)": "import transformers.hf_argparser",
    "jsonargparse: flags of TrainConfig, ModelConfig, TEPFaultsConfig + help": (
        "from jsonargparse import ArgumentParser\nfrom heedful.process import config as C\np = ArgumentParser()\n"
        "p.add_class_arguments(C.TrainConfig, 'train')\np.add_class_arguments(C.ModelConfig, 'model')\n"
        "p.add_class_arguments(C.TEPFaultsConfig, 'task')\np.format_help()"
    ),
    "tyro: flags of TrainConfig + help": (
        "import tyro\nfrom heedful.process import config as C\n"
        "try:\n    tyro.cli(C.TrainConfig, args=['--help'])\nexcept SystemExit:\n    pass"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (default: 5)")
    parser.add_argument("--libraries", action="store_true", help="also time the flag libraries (installed ones)")
    cli = parser.parse_args()
    runs = {
        "heedful " + " ".join(path) + " --help": [sys.executable, "-m", "heedful", *path, "--help"]
        for path in commands()
    }
    times = timed(runs, cli.repeats)
    load = f", load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    print(f"## `--help` start-up, median of {cli.repeats} fresh processes (Python {sys.version.split()[0]}{load})")
    print("| command | wall, median | wall, slowest | CPU, median |\n|---|---|---|---|")
    for label, values in times.items():
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        print(
            f"| `{label.replace('  ', ' ')}` | {statistics.median(wall):.2f} s | {max(wall):.2f} s "
            f"| {statistics.median(cpu):.2f} s |"
        )
    for kind, i in (("wall", 0), ("CPU", 1)):
        worst = max(statistics.median(v[i] for v in values) for values in times.values())
        print(f"\nslowest median {kind} time: {worst:.2f} s ({'under' if worst < 1 else 'OVER'} the 1 s target)")
    if cli.libraries:
        import importlib.util

        wanted = {k: v for k, v in LIBRARIES.items() if _installed(v, importlib.util)}
        lib_times = timed({k: [sys.executable, "-c", v] for k, v in wanted.items()}, cli.repeats)
        print("\n| library step (fresh process) | wall, median | CPU, median |\n|---|---|---|")
        for label, values in lib_times.items():
            wall, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
            print(f"| {label} | {wall:.2f} s | {cpu:.2f} s |")


def _installed(code: str, util) -> bool:
    for line in code.splitlines():
        words = line.replace("from ", "import ").split()
        if words[:1] == ["import"] and util.find_spec(words[1].split(".")[0]) is None:
            return False
    return True


if __name__ == "__main__":
    main()
