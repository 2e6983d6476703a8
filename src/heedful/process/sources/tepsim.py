"""Simulated Tennessee Eastman runs through PyPI ``tep-studio`` (the revised TEP of Bathelt, Ricker & Jelali 2015
under Ricker's decentralised control).

- One run: a class (0 normal, or disturbance IDV(1..20) switched on at ``onset_hours``), a random seed (the
  simulator's measurement-noise and random-disturbance generator) and a length. The controller acts every
  ``CONTROL_HOURS``; we keep the last step of every 3 minutes, so sample ``i`` covers hours ``(0.05 i, 0.05 (i+1)]``
  and the first faulty sample is ``onset_hours / 0.05``, as in the Braatz files.
- Variables: ``feature_columns("classic52")``, i.e. the Braatz set: XMEAS(1..41), XMV(1..11).
- Shutdowns: a run whose plant trips (e.g. IDV(6) on low stripper level) keeps its samples up to the trip and
  records the message and the hour; the samples after it are not simulated and never used.
- Cache: one ``.npz`` per run named by a hash of its ``RunSpec`` (plus this adapter's and tep-studio's versions),
  written atomically as soon as that run is back, so a killed generation resumes with what is missing.
- Parallel: ``workers`` local processes, or a ``dask.distributed`` cluster (``sources.cluster``: a scheduler's
  address, or ``local`` for a ``LocalCluster`` of ``workers`` processes). Either way runs come back to this process,
  which writes the cache (the workers need no shared disk).
- Guards, before anything is simulated: the disk must hold the runs that are missing (an estimate from their
  lengths), and a cache written by another tep-studio or adapter version (``VERSION.json`` in the folder) is
  refused: its runs would not be reused, and mixing versions in one folder hides which made a result.

Disturbances 21-28 of tep-studio are not Braatz's fault 21 (a stuck valve) and are not offered here.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from heedful.cache import cache_root
from heedful.errors import InputError, MissingExtra
from heedful.process import config as C
from heedful.process.sources.cluster import connect, dask_client
from heedful.runs import atomic_write, read_npz, write_json

ADAPTER_VERSION = 1  # bump when a change alters generated values: it invalidates the cache
SAMPLE_HOURS = C.TEP_SAMPLE_HOURS  # 3 minutes, the Braatz sampling
CONTROL_HOURS = 0.01  # controller step: 5 per sample
N_DISTURBANCES = C.TEP_SIM_DISTURBANCES  # IDV(1..20); tep-studio's 21-28 are not Braatz's fault 21
MAX_SEED = C.TEP_SIM_MAX_SEED
CLASS_SEEDS = C.TEP_SIM_CLASS_SEEDS  # seeds per class in a run set (see run_set)
VARIABLE_NAMES = [f"XMEAS({i})" for i in range(1, 42)] + [f"XMV({i})" for i in range(1, 12)]
UNOBSERVABLE_FAULTS = C.TEP_UNOBSERVABLE
MANIFEST = "VERSION.json"  # the versions a cache folder's runs were made with
DISK_RESERVE = 1 << 30  # bytes left free on the cache's disk after a generation
RUN_FILE_OVERHEAD = 4096  # bytes of an .npz beyond its values (names, spec, zip headers)
log = logging.getLogger(__name__)


def require_simulator() -> None:
    if importlib.util.find_spec("tep_studio") is None:
        raise MissingExtra("tep", "tep_studio")


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one simulated run (and its cache key). ``fault`` 0 is normal operation
    (its ``onset_hours`` is ignored and stored as 0)."""

    fault: int
    seed: int
    hours: float = 25.0
    onset_hours: float = 1.0

    def __post_init__(self):
        if not 0 <= self.fault <= N_DISTURBANCES:
            raise InputError(f"TEP disturbance must be IDV 1..{N_DISTURBANCES} (or 0 for normal), got {self.fault}")
        if not 1 <= self.seed <= MAX_SEED:
            raise InputError(f"seed must lie in [1, {MAX_SEED}], got {self.seed}")
        if C.tep_samples(self.hours, "hours") < 1:
            raise InputError(f"a run must last at least one 3-minute sample, got {self.hours} h")
        if self.fault == 0:
            object.__setattr__(self, "onset_hours", 0.0)
        elif not 0 <= C.tep_samples(self.onset_hours, "onset_hours") < self.samples:
            raise InputError(
                f"onset {self.onset_hours} h of IDV({self.fault}) is not inside the run (0 to {self.hours} h)"
            )
        object.__setattr__(self, "hours", float(self.hours))
        object.__setattr__(self, "onset_hours", float(self.onset_hours))

    @property
    def samples(self) -> int:
        return round(self.hours / SAMPLE_HOURS)

    @property
    def onset(self) -> int | None:
        """First faulty sample (None for a normal run)."""
        return round(self.onset_hours / SAMPLE_HOURS) if self.fault else None

    def key(self) -> str:
        payload = {"adapter": ADAPTER_VERSION, "tep_studio": simulator_version(), **asdict(self)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class SimRun:
    """values (T, 52) float32 up to the end or the shutdown; labels (T,) the fault id from the onset on, else 0.
    ``shutdown``: the simulator's message ("" when the run reached its end); ``shutdown_hours``: when."""

    values: np.ndarray
    spec: RunSpec
    shutdown: str = ""
    shutdown_hours: float | None = None
    seconds: float = 0.0

    @property
    def labels(self) -> np.ndarray:
        labels = np.zeros(len(self.values), dtype=np.int64)
        if self.spec.fault:
            labels[self.spec.onset :] = self.spec.fault
        return labels

    @property
    def complete(self) -> bool:
        return not self.shutdown


@lru_cache(maxsize=1)
def simulator_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tep-studio")
    except PackageNotFoundError:
        return "missing"


def simulate(spec: RunSpec) -> SimRun:
    """One closed-loop run of ``spec``: disturbance ``spec.fault`` switched on at ``spec.onset_hours``."""
    require_simulator()
    from tep_studio import ClosedLoopSimulation
    from tep_studio.simulation.benchmark import feature_columns

    columns = feature_columns("classic52")  # 41 measurements, then 11 implemented actions (XMV 1..11)
    assert len(columns) == len(VARIABLE_NAMES) and columns[41].startswith("implemented_action.")
    idv = np.zeros(28)
    if spec.fault:
        idv[spec.fault - 1] = 1.0
    off = np.zeros(28)
    switch_on = spec.onset_hours - 0.5 * CONTROL_HOURS  # the clock is a float sum of steps: no off-by-one step

    def schedule(hour: float) -> np.ndarray:
        return idv if spec.fault and hour >= switch_on else off

    start = time.perf_counter()
    sim = ClosedLoopSimulation(control_interval=CONTROL_HOURS, horizon=spec.hours)
    result = sim.run(seed=float(spec.seed), disturbance_schedule=schedule, record_every=1)
    steps = list(result.results)
    if result.terminated:
        steps = steps[:-1]  # the tripping step is not a complete sample
    per_sample = round(SAMPLE_HOURS / CONTROL_HOURS)
    kept = steps[per_sample - 1 :: per_sample]
    values = np.array([np.concatenate([r.measurements, r.implemented_action[:11]]) for r in kept], dtype=np.float32)
    values = values.reshape(len(kept), len(VARIABLE_NAMES))
    seconds = time.perf_counter() - start
    if not result.terminated:
        return SimRun(values, spec, seconds=seconds)
    message = str(result.results[-1].shutdown_status["message"]).strip() or "shutdown"
    return SimRun(values, spec, message, float(result.final_time), seconds)


# --- cache -------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    return cache_root() / "tepsim"


def save_run(run: SimRun, path: Path) -> Path:
    def write(tmp: Path):
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                values=run.values,
                spec=np.array(json.dumps(asdict(run.spec))),
                shutdown=np.array(run.shutdown),
                shutdown_hours=np.array(np.nan if run.shutdown_hours is None else run.shutdown_hours),
                seconds=np.array(run.seconds),
                variables=np.array(VARIABLE_NAMES),
            )

    return atomic_write(path, write)


def load_run(path: str | Path) -> SimRun:
    z = read_npz(path, "TEP run file")  # truncated / garbage files too: the generator rebuilds on this error
    try:
        variables = [str(v) for v in z["variables"]]
        spec = RunSpec(**json.loads(str(z["spec"])))
        values, shutdown = z["values"], str(z["shutdown"])
        hours, seconds = float(z["shutdown_hours"]), float(z["seconds"])
    except (KeyError, ValueError, TypeError) as err:
        raise InputError(f"{path}: not a heedful TEP run file ({err})") from None
    if variables != VARIABLE_NAMES or values.ndim != 2 or values.shape[1] != len(VARIABLE_NAMES):
        raise InputError(f"{path}: expected (T, {len(VARIABLE_NAMES)}) values of the classic 52 variables")
    if not np.isfinite(values).all():
        raise InputError(f"{path}: non-finite values at rows {np.nonzero(~np.isfinite(values).all(1))[0][:5].tolist()}")
    return SimRun(values, spec, shutdown, None if math.isnan(hours) else hours, seconds)


# --- many runs ---------------------------------------------------------------------------------------


def run_set(faults: Sequence[int], runs: int, hours: float, onset_hours: float, base_seed: int) -> list[RunSpec]:
    """``runs`` runs of every class in ``faults``. Run ``i`` of class ``f`` uses seed ``base_seed + f * CLASS_SEEDS
    + i``: asking for more runs keeps (and reuses from the cache) the ones already made."""
    if runs < 1:
        raise InputError(f"runs per class must be >= 1, got {runs}")
    if runs > CLASS_SEEDS:
        raise InputError(f"at most {CLASS_SEEDS} runs per class, got {runs}")
    if not faults:
        raise InputError("no classes to simulate")
    return [
        RunSpec(int(f), base_seed + int(f) * CLASS_SEEDS + i, hours, onset_hours) for f in faults for i in range(runs)
    ]


def specs(cfg: C.TEPSimFaultsConfig, split: str) -> list[RunSpec]:
    """The ``RunSpec`` of every run of ``split`` of a ``tep_sim_faults`` task, class by class: 'train', 'val',
    'test', or 'alarm' (the normal validation runs the alarm is set on, whose first ``val_runs`` are val's normal
    runs). The training set starts at ``base_seed``, validation and test ``SET_GAP`` and twice that later."""
    runs = {"train": cfg.train_runs, "val": cfg.val_runs, "test": cfg.test_runs}.get(split, cfg.val_normal_runs)
    base = cfg.base_seed + C.TEP_SIM_SET_GAP * ("train", "val", "test").index("val" if split == "alarm" else split)
    if split == "test":
        return run_set(cfg.faults, runs, cfg.test_hours, cfg.test_onset_hours, base)
    faults = (0,) if split == "alarm" else cfg.faults
    return run_set(faults, runs, cfg.train_hours, cfg.train_onset_hours, base)


@dataclass
class GenerationReport:
    runs: list[SimRun]
    computed: int
    seconds: float
    per_run_seconds: list[float] = field(default_factory=list)

    @property
    def shutdowns(self) -> list[SimRun]:
        return [r for r in self.runs if not r.complete]


def generate(
    specs: Sequence[RunSpec],
    cache_dir: str | Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
) -> GenerationReport:
    """All runs of ``specs``, simulating only those missing from ``cache_dir``: in this process, in ``workers``
    local processes, or on the ``dask.distributed`` cluster at ``scheduler`` (e.g. ``tcp://host:8786``, or
    ``local`` for a ``LocalCluster`` of ``workers`` processes). Every run is written to the cache as soon as it is
    back."""
    from tqdm.auto import tqdm

    require_simulator()
    if not specs:
        raise InputError("no TEP runs requested")
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    check_cache_version(cache)
    paths = [cache / f"{s.key()}.npz" for s in specs]
    loaded: dict[Path, SimRun] = {}
    for path in set(paths):
        if path.exists():
            try:
                loaded[path] = load_run(path)
            except InputError as err:  # a damaged cache entry is simulated again, not an error (as IndPenSim's)
                log.warning("rebuilding damaged cache entry: %s", err)
    todo = {p: s for s, p in zip(specs, paths, strict=True) if p not in loaded}  # duplicates simulated once
    check_disk(list(todo.values()), cache)
    start, times = time.perf_counter(), []
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(dask_client(scheduler, workers)) if scheduler and todo else None
        bar = stack.enter_context(tqdm(total=len(todo), desc="TEP runs", unit="run", disable=not progress or not todo))
        for path, run in _simulate_all(todo, workers, client):  # the bar opens after the client: one-line errors
            save_run(run, path)
            times.append(run.seconds)
            bar.update()
    return GenerationReport(
        [loaded[p] if p in loaded else load_run(p) for p in paths], len(todo), time.perf_counter() - start, times
    )


def check_cache_version(cache: Path) -> None:
    """Refuse a cache folder written by another tep-studio or adapter version; mark a new one as ours."""
    mine = {"adapter": ADAPTER_VERSION, "tep_studio": simulator_version()}
    path = cache / MANIFEST
    if not path.exists():
        write_json(path, mine)
        return
    try:
        theirs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        theirs = None
    if theirs != mine:
        made = (
            f"tep-studio {theirs.get('tep_studio')} (adapter {theirs.get('adapter')})"
            if isinstance(theirs, dict)
            else f"an unreadable {MANIFEST}"
        )
        raise InputError(
            f"{cache}: a TEP run cache of {made}, this is tep-studio {mine['tep_studio']} (adapter "
            f"{mine['adapter']}): give another --cache, or delete that folder to simulate its runs again"
        )


def run_bytes(spec: RunSpec) -> int:
    """Disk (and memory) of one run's values, as stored: float32 (samples, 52), plus the file's overhead."""
    return spec.samples * len(VARIABLE_NAMES) * 4 + RUN_FILE_OVERHEAD


def check_disk(todo: Sequence[RunSpec], cache: Path) -> None:
    """Refuse up front, with the estimate, a generation the cache's disk cannot hold."""
    need = sum(run_bytes(s) for s in todo)
    free = shutil.disk_usage(cache).free
    if todo and need + DISK_RESERVE > free:
        raise InputError(
            f"{len(todo)} TEP runs need about {gigabytes(need)} in {cache}, {gigabytes(free)} free there "
            f"({gigabytes(DISK_RESERVE)} kept spare): ask for fewer runs, or give a --cache with more room"
        )


def gigabytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def _simulate_all(todo: dict[Path, RunSpec], workers: int, client):
    """Yield (path, run) as runs finish: on the Dask ``client``'s cluster, in a local pool, or here."""
    if not todo:
        return  # everything cached (a pool of min(workers, 0) processes would be refused)
    if client is not None:
        from distributed import as_completed

        paths = list(todo)
        futures = client.map(simulate, [todo[p] for p in paths], key=[f"tepsim-{p.stem}" for p in paths], pure=False)
        index = {f.key: p for f, p in zip(futures, paths, strict=True)}
        for future in as_completed(futures, loop=client.loop):
            yield index[future.key], future.result()
    elif workers == 1 or len(todo) == 1:
        for path, spec in todo.items():
            yield path, simulate(spec)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            futures = {pool.submit(simulate, spec): path for path, spec in todo.items()}
            for future in as_completed(futures):
                yield futures[future], future.result()


__all__ = [
    "N_DISTURBANCES",
    "SAMPLE_HOURS",
    "VARIABLE_NAMES",
    "GenerationReport",
    "RunSpec",
    "SimRun",
    "connect",
    "generate",
    "load_run",
    "run_set",
    "save_run",
    "simulate",
    "simulator_version",
    "specs",
]
