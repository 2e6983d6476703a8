"""Which samples a command works on: a data file (or the embedded demo set) and a clip-disjoint split of it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from heedful.errors import InputError
from heedful.fields import check_fields, param
from heedful.rationale.data.loaders import LoadResult, demo_path, load_samples
from heedful.rationale.data.split import select_split

SPLITS = ("train", "dev", "all")


@dataclass(frozen=True)
class DataConfig:
    data: str | None = param(None, "INSIDE or flat MECR JSON file (None: the embedded demo set)")
    split: str = param("all", "clip-disjoint split: train, dev or all")
    dev_fraction: float = param(0.2, "share of samples in dev")
    seed: int = param(0, "training seed (new weights, batch order); the split has its own, --split-seed")
    split_seed: int = param(0, "seed of the clip-disjoint train / dev split")
    skip_invalid: bool = param(False, "report invalid samples and go on without them")

    def __post_init__(self):
        check_fields(self)
        if self.split not in SPLITS:
            raise InputError(f"split must be one of {', '.join(SPLITS)}; got {self.split!r}")
        if not 0.0 < self.dev_fraction < 1.0:  # NaN fails this too
            raise InputError(f"dev_fraction must be in (0, 1), got {self.dev_fraction}")

    @property
    def path(self) -> Path:
        return Path(self.data) if self.data else demo_path()

    def with_split(self, split: str) -> DataConfig:
        return replace(self, split=split)

    @classmethod
    def from_saved(cls, values: dict) -> DataConfig:
        """The data settings a run saved. A run saved before the split had its own seed drew it with ``seed``: it
        gets that split back."""
        values = dict(values)
        if "split_seed" not in values:
            values["split_seed"] = values.get("seed", 0)
        return cls(**values)


def load_split(cfg: DataConfig) -> LoadResult:
    """The samples of ``cfg.split`` (clip-disjoint train / dev) and one line per skipped invalid sample."""
    result = load_samples(cfg.path, skip_invalid=cfg.skip_invalid)
    samples = select_split(result.samples, cfg.split, cfg.dev_fraction, cfg.split_seed)
    if not samples:
        raise InputError(f"{cfg.path}: no valid samples in split {cfg.split}")
    return LoadResult(samples, result.errors)
