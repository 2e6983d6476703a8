"""IndPenSim (industrial-scale penicillin fed-batch simulator) through PyPI ``pensimpy`` 1.2.5.

Every adaptation of pensimpy lives in this module:

- ``pensimpy.peni_env_setup`` imports ``fastodeint`` at top level, a C++ extension that is not on PyPI and is
  only used with ``fast=True``. A stub module stands in for it; we always run ``fast=False``.
- pensimpy's ``Recipe`` forward-fills set-points, but its default profiles mean "this value holds *until*
  time t"; forward filling shifts every set-point by one interval and the volume collapses (the ODE then
  overflows). ``BackwardRecipe`` reads a profile the intended way.
- Faults: pensimpy's faults 1-8 start at fixed steps. We inject the same disturbances at a random onset
  (``BatchSpec.fault_onset``) and record per-step labels.
- Speed: the ODE is integrated by ``scipy.integrate.odeint`` around a plain-Python right-hand side (~230 calls per
  12-minute step). ``solver="fast"`` swaps in our rewrite of that function (``_indpensim_ode.rhs``, same
  equations) and asks odeint for the step's end point only. ``benchmarks/process_indpensim.py`` measures both.
- Raman spectra are not simulated (pensimpy builds a 2,200-point spectrum every step; we do not use it). PAA is
  still PID-controlled as in pensimpy's default configuration.
- numpy 2: no pensimpy code path we run breaks under numpy 2.x (checked with numpy 2.4); pH is converted from
  H+ concentration here, because pensimpy only converts it when a batch runs the full 1,150 steps.

Batches are cached on disk, one ``.npz`` per batch named by a hash of its generation parameters, written
atomically, so an interrupted generation resumes without recomputing finished batches. A cached file that cannot be
read back (truncated, emptied, garbage, non-finite values) is simulated again and replaced: the cache repairs
itself. Progress goes to a tqdm bar and to the ``heedful.process.sources.indpensim`` logger.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
import types
from bisect import bisect_left
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from heedful.cache import cache_root
from heedful.errors import InputError
from heedful.process.config import PEN_FULL_STEPS as FULL_STEPS
from heedful.process.config import PEN_STEP_HOURS as STEP_HOURS
from heedful.process.config import GenerationConfig
from heedful.process.sources._indpensim_ode import rhs
from heedful.runs import atomic_write, read_npz, write_json

log = logging.getLogger(__name__)
ADAPTER_VERSION = 1  # bump when a change alters generated values: it invalidates the cache
ONLINE = (
    "aeration",
    "sugar_feed",
    "oil_feed",
    "paa_feed",
    "water_feed",
    "discharge",
    "acid_flow",
    "base_flow",
    "cooling_water",
    "heating_water",
    "pressure",
    "temperature",
    "ph",
    "dissolved_o2",
    "offgas_o2",
    "offgas_co2",
    "volume",
    "weight",
)
STATES = ("penicillin", "biomass", "substrate", "viscosity", "paa", "nh3")  # off-line in a real plant
CHANNELS = ONLINE + STATES
_SOURCE = {  # our channel -> pensimpy's attribute on its batch-data object
    "aeration": "Fg",
    "sugar_feed": "Fs",
    "oil_feed": "Foil",
    "paa_feed": "Fpaa",
    "water_feed": "Fw",
    "discharge": "discharge",
    "acid_flow": "Fa",
    "base_flow": "Fb",
    "cooling_water": "Fc",
    "heating_water": "Fh",
    "pressure": "pressure",
    "temperature": "T",
    "ph": "pH",
    "dissolved_o2": "DO2",
    "offgas_o2": "O2",
    "offgas_co2": "CO2outgas",
    "volume": "V",
    "weight": "Wt",
    "penicillin": "P",
    "biomass": "X",
    "substrate": "S",
    "viscosity": "Viscosity",
    "paa": "PAA",
    "nh3": "NH3",
}
FAULTS = {
    0: "normal",
    1: "aeration",
    2: "back pressure",
    3: "sugar feed",
    4: "base flow",
    5: "coolant flow",
    6: "faults 1-5 together",
    7: "temperature sensor drift",
    8: "pH sensor drift",
}
# pensimpy's disturbance for each actuator fault: (input, value during the fault, duration in steps)
ACTUATOR_FAULTS = {1: ("Fg", 20.0, 50), 2: ("pressure", 2.0, 200), 3: ("Fs", 20.0, 80), 4: ("Fb", 10.0, 100)}
ACTUATOR_FAULTS[5] = ("Fc", 10.0, 150)
SENSOR_FAULTS = {7: 0.4, 8: 0.1}  # bias (K, pH units) reached after a 600-step linear ramp, then held
SENSOR_RAMP = 600
PHASES = ("batch", "fed-batch", "discharge")
BATCH_PHASE_END_H = 24.0  # the initial sugar programme; the fed-batch feed takes over after it


def fault_duration(fault: int, steps_left: int) -> int:
    if fault in SENSOR_FAULTS:
        return steps_left
    if fault == 6:
        return max(ACTUATOR_FAULTS[f][2] for f in range(1, 6))
    return ACTUATOR_FAULTS[fault][2]


# --- recipe ------------------------------------------------------------------------------------------


class BackwardRecipe:
    """Set-point profiles read as "value v holds until time t": at time τ the value of the first set-point with
    t ≥ τ (the last value after the final set-point). ``scales`` multiply values, ``time_scale`` stretches time."""

    def __init__(self, profiles: dict[str, list[dict]], scales: dict[str, float] | None = None, time_scale=1.0):
        scales = scales or {}
        self.profiles = {
            name: ([sp["time"] * time_scale for sp in prof], [sp["value"] * scales.get(name, 1.0) for sp in prof])
            for name, prof in profiles.items()
        }

    def value(self, name: str, hour: float) -> float:
        times, values = self.profiles[name]
        return values[min(bisect_left(times, hour - 1e-9), len(values) - 1)]

    def get_values_dict_at(self, time: float) -> dict[str, float]:  # pensimpy's RecipeCombo interface
        return {name: self.value(name, time) for name in self.profiles}


def default_profiles() -> dict[str, list[dict]]:
    from pensimpy.data import constants as c

    return {
        "Fs": c.FS_DEFAULT_PROFILE,
        "Foil": c.FOIL_DEFAULT_PROFILE,
        "Fg": c.FG_DEFAULT_PROFILE,
        "pressure": c.PRESS_DEFAULT_PROFILE,
        "discharge": c.DISCHARGE_DEFAULT_PROFILE,
        "Fw": c.WATER_DEFAULT_PROFILE,
        "Fpaa": c.PAA_DEFAULT_PROFILE,
    }


# --- one batch ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSpec:
    """Everything that determines one simulated batch (and its cache key).

    ``seed`` is pensimpy's ``random_seed``: it draws initial conditions and disturbances from seeds
    ``31 + seed`` .. ``48 + seed``, so seeds closer than ~50 share random streams. ``temperature_programme``:
    (until-hour, set-point K) pairs, backward semantics like the recipe; empty keeps pensimpy's 298 K."""

    seed: int
    steps: int = FULL_STEPS
    sugar_scale: float = 1.0
    aeration_scale: float = 1.0
    pressure_scale: float = 1.0
    time_scale: float = 1.0
    fault: int = 0
    fault_onset: int = 0
    temperature_programme: tuple[tuple[float, float], ...] = ()
    solver: str = "fast"

    def __post_init__(self):
        if not 2 <= self.steps <= FULL_STEPS:
            raise InputError(f"steps must lie in [2, {FULL_STEPS}], got {self.steps}")
        for name in ("sugar_scale", "aeration_scale", "pressure_scale", "time_scale"):
            if not 0.5 <= getattr(self, name) <= 1.5:
                raise InputError(f"{name} must lie in [0.5, 1.5], got {getattr(self, name)}")
        if self.fault not in FAULTS:
            raise InputError(f"IndPenSim fault must be one of {sorted(FAULTS)}, got {self.fault}")
        if self.fault and not 1 <= self.fault_onset < self.steps:
            raise InputError(f"fault_onset must lie in [1, {self.steps}), got {self.fault_onset}")
        if self.solver not in ("fast", "reference"):
            raise InputError(f"solver must be 'fast' or 'reference', got {self.solver!r}")
        object.__setattr__(
            self, "temperature_programme", tuple(tuple(map(float, p)) for p in self.temperature_programme)
        )

    def key(self) -> str:
        text = json.dumps({"adapter": ADAPTER_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def fault_active(self) -> np.ndarray:
        """(steps,) bool: the steps (0-based) at which the fault acts."""
        active = np.zeros(self.steps, dtype=bool)
        if self.fault:
            active[self.fault_onset : self.fault_onset + fault_duration(self.fault, self.steps)] = True
        return active


@dataclass
class Batch:
    """values (T, len(CHANNELS)) float32, per-step ``fault`` id (0 where none acts) and ``phase`` id."""

    values: np.ndarray
    fault: np.ndarray
    phase: np.ndarray
    spec: BatchSpec
    seconds: float = 0.0

    def channel(self, name: str) -> np.ndarray:
        return self.values[:, CHANNELS.index(name)]

    @property
    def hours(self) -> np.ndarray:
        return STEP_HOURS * np.arange(1, len(self.values) + 1)


def _install_fastodeint_stub() -> None:
    """pensimpy imports ``fastodeint`` at module level; it is only called when ``fast=True``, which we never use."""
    if "fastodeint" in sys.modules:
        return
    try:
        import fastodeint  # noqa: F401  (a real build, if someone has one)
    except ImportError:
        stub = types.ModuleType("fastodeint")

        def integrate(*args, **kwargs):
            raise RuntimeError("fastodeint is not installed; heedful runs pensimpy with fast=False")

        stub.integrate = integrate
        sys.modules["fastodeint"] = stub


_ACTIVE_SOLVER = {"name": "fast"}


def _odeint(func, y0, t, tfirst=True, args=()):
    """Stands in for the ``odeint`` that pensimpy's ``step`` calls. ``reference``: pensimpy's call unchanged.
    ``fast``: our right-hand side, and only the step's end point requested (pensimpy asks for 41 points and
    keeps the last)."""
    from scipy.integrate import odeint

    if _ACTIVE_SOLVER["name"] == "reference":
        return odeint(func, y0, t, tfirst=tfirst, args=args)
    return odeint(rhs, y0, [t[0], t[-1]], tfirst=True, args=args)


@lru_cache(maxsize=1)
def _env_class():
    """pensimpy's environment with our fault injection and without the Raman simulation."""
    import importlib.util

    if importlib.util.find_spec("pensimpy") is None:
        raise FileNotFoundError("IndPenSim needs the PyPI package pensimpy: `pip install --no-deps pensimpy==1.2.5`")
    _install_fastodeint_stub()
    import pensimpy.peni_env_setup as setup

    setup.odeint = _odeint  # pensimpy resolves odeint through its module globals

    class Env(setup.PenSimEnv):
        def __init__(self, recipe: BackwardRecipe, spec: BatchSpec):
            super().__init__(recipe_combo=recipe, fast=False)
            self.spec = spec
            self.active = spec.fault_active()

        def raman_sim(self, k, x):
            return x

        def integrate_control_strategy(self, x, k, *inputs):
            fault = self.spec.fault if self.active[k - 1] else 0
            restore = self._bias_sensor(x, k, fault)
            try:
                u, x = super().integrate_control_strategy(x, k, *inputs)
            finally:
                for channel, i, v in restore:
                    channel[i] = v
            for f in (1, 2, 3, 4, 5):
                if fault in (f, 6) and k - 1 < self.spec.fault_onset + ACTUATOR_FAULTS[f][2]:
                    name, value, _ = ACTUATOR_FAULTS[f]
                    setattr(u, name, value)
            u.Fault_ref = int(fault != 0)
            return u, x

        def _bias_sensor(self, x, k, fault):
            """The controller reads the temperature / pH history at steps 0, 1, k-2, k-3, k-4: shift what it
            reads by the drifting sensor error, and hand back what to restore afterwards."""
            if fault not in SENSOR_FAULTS:
                return []
            bias = SENSOR_FAULTS[fault] * min(1.0, (k - 1 - self.spec.fault_onset) / SENSOR_RAMP)
            channel = x.T.y if fault == 7 else x.pH.y  # pH is stored as H+ concentration during the run
            restore = []
            for i in {0, 1, k - 2, k - 3, k - 4}:
                if 0 <= i < len(channel):
                    restore.append((channel, i, channel[i]))
                    channel[i] = channel[i] - bias if fault == 7 else channel[i] * 10**bias
            return restore

    return Env


def _recipe(spec: BatchSpec) -> BackwardRecipe:
    scales = {"Fs": spec.sugar_scale, "Fg": spec.aeration_scale, "pressure": spec.pressure_scale}
    return BackwardRecipe(default_profiles(), scales, spec.time_scale)


def phase_labels(spec: BatchSpec) -> np.ndarray:
    """Per-step phase from the recipe: 0 batch (the initial sugar programme), 1 fed-batch, 2 discharge
    (broth drawn off)."""
    recipe = _recipe(spec)
    hours = STEP_HOURS * np.arange(1, spec.steps + 1)
    phase = np.where(hours <= BATCH_PHASE_END_H * spec.time_scale, 0, 1).astype(np.int8)
    drawing = np.array([recipe.value("discharge", h) > 0 for h in hours])
    phase[drawing] = 2
    return phase


def simulate(spec: BatchSpec) -> Batch:
    """Run one batch of ``spec.steps`` 12-minute steps."""
    env_cls = _env_class()
    recipe = _recipe(spec)
    env = env_cls(recipe, spec)
    env.random_seed_ref = spec.seed
    _, x = env.reset()
    env.yield_pre = 0
    start = time.perf_counter()
    previous, _ACTIVE_SOLVER["name"] = _ACTIVE_SOLVER["name"], spec.solver
    try:
        for k in range(1, spec.steps + 1):
            hour = k * STEP_HOURS
            if spec.temperature_programme:
                env.ctrl_flags.T_sp = _programme_value(spec.temperature_programme, hour)
            v = recipe.get_values_dict_at(hour)
            _, x, _, _ = env.step(k, x, v["Fs"], v["Foil"], v["Fg"], v["pressure"], v["discharge"], v["Fw"], v["Fpaa"])
    finally:
        _ACTIVE_SOLVER["name"] = previous
    values = np.stack([np.asarray(getattr(x, _SOURCE[c]).y[: spec.steps], dtype=np.float64) for c in CHANNELS], 1)
    ph = values[:, CHANNELS.index("ph")]
    values[:, CHANNELS.index("ph")] = np.where(ph < 1, -np.log10(np.maximum(ph, 1e-14)), ph)  # H+ -> pH
    fault = np.where(spec.fault_active(), spec.fault, 0).astype(np.int8)
    return Batch(values.astype(np.float32), fault, phase_labels(spec), spec, time.perf_counter() - start)


def _programme_value(programme, hour: float) -> float:
    times = [t for t, _ in programme]
    return programme[min(bisect_left(times, hour - 1e-9), len(programme) - 1)][1]


# --- cache -------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    return cache_root() / "indpensim"


def save_batch(batch: Batch, path: Path) -> Path:
    def write(tmp: Path):
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                values=batch.values,
                fault=batch.fault,
                phase=batch.phase,
                channels=np.array(CHANNELS),
                spec=np.array(json.dumps(asdict(batch.spec))),
                seconds=np.array(batch.seconds),
            )

    return atomic_write(path, write)


def load_batch(path: str | Path) -> Batch:
    z = read_npz(path, "IndPenSim batch file")
    try:
        channels = tuple(str(c) for c in z["channels"])
        spec = json.loads(str(z["spec"]))
        values, fault, phase, seconds = z["values"], z["fault"], z["phase"], float(z["seconds"])
    except (KeyError, ValueError, TypeError) as err:
        raise InputError(f"{path}: not a heedful IndPenSim batch file ({err!r})") from None
    if channels != CHANNELS:
        raise InputError(f"{path}: channels {channels[:3]}... do not match this version's {CHANNELS[:3]}...")
    spec["temperature_programme"] = tuple(tuple(p) for p in spec["temperature_programme"])
    batch = Batch(values, fault, phase, BatchSpec(**spec), seconds)
    check_finite(batch.values, CHANNELS, str(path))
    return batch


def check_finite(values: np.ndarray, names, where: str) -> None:
    """One clear error naming the first channel with NaN / inf values and its first rows."""
    bad = ~np.isfinite(values)
    if bad.any():
        col = int(np.nonzero(bad.any(0))[0][0])
        rows = np.nonzero(bad[:, col])[0]
        shown = ", ".join(str(r) for r in rows[:5]) + (f" (+{len(rows) - 5} more)" if len(rows) > 5 else "")
        raise InputError(f"{where}: non-finite values in channel {names[col]!r} at rows {shown}")


# --- many batches ------------------------------------------------------------------------------------


def specs(config: GenerationConfig) -> list[BatchSpec]:
    """The ``BatchSpec`` of every batch of a generation."""
    return [batch_spec(config, i) for i in range(config.batches)]


def batch_spec(config: GenerationConfig, i: int) -> BatchSpec:
    """Batch ``i`` of a generation: seed ``base_seed + i * seed_stride``, the rest drawn from that seed."""
    seed = config.base_seed + i * config.seed_stride
    rng = np.random.default_rng(seed)
    scales = rng.uniform(config.scale_low, config.scale_high, 3).round(4)
    steps = round(float(rng.uniform(config.min_hours, config.max_hours)) / STEP_HOURS)
    time_scale = round(float(rng.uniform(1 - config.time_jitter, 1 + config.time_jitter)), 4)
    fault = onset = 0
    if rng.random() < config.fault_fraction:
        fault = int(rng.choice(config.faults))
        latest = steps - (300 if fault in SENSOR_FAULTS else fault_duration(fault, steps) + 20)
        onset = int(rng.integers(min(100, steps // 4) + 1, max(latest, steps // 4 + 2)))
    programme = ()
    if config.temperature_programmes and rng.random() < 0.5:
        switch = round(float(rng.uniform(40, 120)), 1)
        programme = ((switch, 298.0), (230.0, round(float(rng.uniform(296.0, 299.0)), 2)))
    return BatchSpec(seed, steps, *map(float, scales), time_scale, fault, onset, programme, config.solver)


@dataclass
class GenerationReport:
    batches: list[Batch]
    computed: int
    seconds: float
    per_batch_seconds: list[float] = field(default_factory=list)


def _simulate_to(spec: BatchSpec, path: str) -> float:
    """Worker entry point: simulate and write one batch; return its simulation time."""
    batch = simulate(spec)
    save_batch(batch, Path(path))
    return batch.seconds


def generate(
    specs: list[BatchSpec],
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: bool = True,
) -> GenerationReport:
    """All batches of ``specs`` (``specs(config)``), simulating only those missing from ``cache_dir`` (in
    ``workers`` processes, each batch saved as soon as it is done)."""
    from tqdm.auto import tqdm

    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if cache.exists() and not cache.is_dir():
        raise InputError(f"cache {cache}: is a file, not a folder")
    cache.mkdir(parents=True, exist_ok=True)
    paths = [cache / f"{s.key()}.npz" for s in specs]
    loaded: dict[Path, Batch] = {}
    for path in paths:
        if path.exists():
            try:
                loaded[path] = load_batch(path)
            except InputError as err:  # a damaged cache entry is rebuilt, not an error
                log.warning("rebuilding damaged cache entry: %s", err)
    todo = [(s, p) for s, p in zip(specs, paths, strict=True) if p not in loaded]
    start = time.perf_counter()
    times: list[float] = []
    bar = tqdm(total=len(todo), desc="IndPenSim batches", unit="batch", disable=not progress or not todo)
    if workers == 1 or len(todo) <= 1:
        for spec, path in todo:
            times.append(_simulate_to(spec, str(path)))
            bar.update()
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_simulate_to, spec, str(path)) for spec, path in todo]
            for future in as_completed(futures):
                times.append(future.result())
                bar.update()
    bar.close()
    log.info("%d IndPenSim batches: %d simulated, %d from %s", len(paths), len(todo), len(loaded), cache)
    manifest = {"specs": [asdict(s) for s in specs], "batches": [p.name for p in paths]}
    key = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    write_json(cache / f"dataset-{key}.json", manifest)
    batches = [loaded[p] if p in loaded else load_batch(p) for p in paths]
    return GenerationReport(batches, len(todo), time.perf_counter() - start, times)


__all__ = [
    "CHANNELS",
    "FAULTS",
    "FULL_STEPS",
    "ONLINE",
    "PHASES",
    "STATES",
    "STEP_HOURS",
    "BackwardRecipe",
    "Batch",
    "BatchSpec",
    "GenerationConfig",
    "check_finite",
    "generate",
    "load_batch",
    "save_batch",
    "simulate",
    "specs",
]
