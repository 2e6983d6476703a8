"""Which samples a ``heedful rationale`` command reads: ``DataConfig``'s flags, and the split they draw.

The clip-disjoint train / dev split has its own seed, ``--split-seed`` (default 0, the split every command drew
before it had one); ``--seed`` is the command's own randomness (training, sampling) and leaves the split alone. A
command on a held-out split with a trained model or an index (``predict``, ``retrieve``) draws the split that run
held out: the run's split seed and dev fraction, unless given. A run saved before the split had its own seed drew it
with ``seed``: loading it (``--resume``, ``explain``), predicting with it, or replaying its config.json with
``--config`` gives that split back (``DataConfig.from_saved``).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from heedful.cli.flags import add_config_flags, config_from_args

SPLIT_KEYS = ("split_seed", "dev_fraction")  # what draws the split, besides the data


def data_args(p: argparse.ArgumentParser, split: str, trains: bool = False, out: bool = True) -> None:
    """DataConfig's flags, ``--split`` defaulting to the command's own split; ``--seed`` only on a command that
    trains (the split has ``--split-seed``)."""
    from heedful.rationale.data.config import SPLITS, DataConfig

    add_config_flags(p, DataConfig, skip=("split",) if trains else ("split", "seed"))
    p.add_argument("--split", default=split, choices=SPLITS, help=f"clip-disjoint split (default: {split})")
    if out:
        p.add_argument("--out", default="runs", help="folder for run folders (default: runs)")


def data_config(args: argparse.Namespace, run: str | Path | None = None):
    """The ``DataConfig`` of the flags and ``--config``; what they leave out of the split comes from an old run
    record being replayed, else from ``run`` (the model or index folder the command predicts with)."""
    from heedful.rationale.data.config import DataConfig

    given = getattr(args, "config_sources", {})
    values = {k: v for k, v in held_out(run).items() if k not in given} if run else {}
    old = _replayed_split_seed(args)
    if old is not None and "split_seed" not in given:
        values["split_seed"] = old
    return config_from_args(DataConfig, args, **values)


def held_out(run: str | Path) -> dict:
    """The split seed and dev fraction a run folder's config.json says it drew its split with ({}: none)."""
    from heedful.errors import InputError
    from heedful.rationale.data.config import DataConfig
    from heedful.runs import read_json

    path = Path(run) / "config.json"
    if not path.is_file():
        return {}  # not a run folder: loading the model or index says so
    saved = read_json(path)
    data = saved.get("data") if isinstance(saved, dict) else None
    if not isinstance(data, dict):
        return {}
    try:
        cfg = DataConfig.from_saved(data)
    except TypeError as err:  # a key no DataConfig has: an edited or foreign config.json
        raise InputError(f"{path}: data: {err}") from None
    return {k: getattr(cfg, k) for k in SPLIT_KEYS}


def _replayed_split_seed(args: argparse.Namespace) -> int | None:
    """``--config RUN/config.json`` of a run saved before the split had its own seed: the seed that drew it."""
    path = getattr(args, "config", None)
    if not path or Path(path).name != "config.json":
        return None
    from heedful.configfile import read_config_file

    data = dict(read_config_file(path)).get("data")
    if isinstance(data, dict) and "seed" in data and "split_seed" not in data:
        return data["seed"]
    return None


def data_record(cfg, trains: bool = False) -> dict:
    """The data settings a run saves: without ``seed`` where the command does not train (it has no --seed)."""
    record = asdict(cfg)
    if not trains:
        record.pop("seed")
    return record
