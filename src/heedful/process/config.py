"""Every typed config of the process track, in one module that imports neither numpy nor torch.

The CLI builds its flags from these dataclasses (``heedful.cli.flags``) when it builds its parser, so each default
and help lives here and nowhere else (``heedful.fields.param``). Every config checks itself in ``__post_init__``:
types by pydantic (``check_fields``: the one type check of configs, config files and the service's requests), then
the rules that relate values (counts positive, fractions in range); a bad value is an ``InputError`` naming the
field.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from heedful.device_names import DEVICE_HELP, check_device_spec
from heedful.errors import InputError
from heedful.fields import check_fields, param, validate_values
from heedful.process.names import NEURAL_MODELS, check_task
from heedful.tracking import check_tracker

TEP_FAULTS = 21  # Tennessee Eastman faults 1..21; 0 is normal operation
TEP_UNOBSERVABLE = (3, 9, 15)  # known to be (nearly) invisible in the 52 measurements
PEN_STEP_HOURS = 0.2  # IndPenSim: 12-minute steps
PEN_FULL_STEPS = 1150  # 230 h
PEN_FAULTS = tuple(range(1, 9))  # IndPenSim faults 1-8


# --- checks shared by the configs ---------------------------------------------------------------------


def check_at_least(cfg, low: float, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value < low:
            raise InputError(f"{name} must be >= {low:g}, got {value}")


def check_within(cfg, name: str, low: float, high: float, open_low: bool = False, open_high: bool = False) -> None:
    value = getattr(cfg, name)
    ok = (low < value if open_low else low <= value) and (value < high if open_high else value <= high)
    if not ok:
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise InputError(f"{name} must lie in {lo}{low:g}, {high:g}{hi}, got {value}")


def int_tuple(value, name: str) -> tuple[int, ...]:
    """``(0, 1, 2)``, ``[0, 1, 2]`` or ``"0,1,2"`` -> a tuple of distinct ints."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, tuple | list):
        parts = list(value)
    else:
        raise InputError(f"{name}: expected integers like 0,1,2, got {value!r}")
    try:
        out = tuple(_as_int(p) for p in parts)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected integers like 0,1,2, got {value!r}") from None
    if not out:
        raise InputError(f"{name}: expected at least one integer, got {value!r}")
    duplicates = sorted(v for v, n in Counter(out).items() if n > 1)
    if duplicates:
        raise InputError(f"{name}: {duplicates} given more than once in {value!r}")
    return out


def _as_int(v) -> int:
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError(v)
    return int(v)


# --- training and models --------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """The one training loop's settings (``heedful.process.train.fit``)."""

    epochs: int = param(30, "maximum training epochs")
    batch_size: int = param(64, "windows (or batches) per optimiser step")
    lr: float = param(2e-3, "AdamW learning rate")
    weight_decay: float = param(1e-4, "AdamW weight decay")
    patience: int = param(6, "early stopping: epochs without a better validation score")
    grad_clip: float = param(1.0, "largest gradient norm (L2, over all parameters); larger gradients are scaled down")
    noise: float = param(0.0, "std of Gaussian noise added to training inputs (scaled units): a cheap regulariser")
    teacher_forcing: float = param(0.5, "Seq2Seq training: gold previous output with this probability, per step")
    attention_sufficiency: float = param(
        0.0, "weight of the task loss on the input kept by attention (docs/explain.md)"
    )
    attention_keep: float = param(0.1, "share of steps the attention keeps for attention_sufficiency")
    seed: int = param(0, "seeds the model's initialisation, shuffling and dropout")
    log_with: str | None = param(
        None, "experiment tracker: tensorboard or mlflow (local files under the run's tracking/)"
    )
    device: str = param("auto", DEVICE_HELP)

    def __post_init__(self):
        check_fields(self)
        check_tracker(self.log_with)
        check_device_spec(self.device)
        check_at_least(self, 1, "epochs", "batch_size", "patience")
        if self.lr <= 0 or self.grad_clip <= 0:
            raise InputError(f"lr and grad_clip must be > 0, got {self.lr}, {self.grad_clip}")
        check_at_least(self, 0, "weight_decay", "noise", "attention_sufficiency")
        check_within(self, "teacher_forcing", 0.0, 1.0)
        check_within(self, "attention_keep", 0.0, 1.0, open_low=True)


@dataclass
class ModelConfig:
    """Size of the neural process models (``heedful.process.models.build_model``)."""

    hidden_size: int = param(64, "hidden units per direction")
    num_layers: int = param(1, "stacked RNN layers")
    dropout: float = param(0.1, "dropout between stacked layers and before the head")

    def __post_init__(self):
        check_fields(self)
        check_at_least(self, 1, "hidden_size", "num_layers")
        check_within(self, "dropout", 0.0, 1.0, open_high=True)


# --- Tennessee Eastman --------------------------------------------------------------------------------


def tep_faults(value) -> tuple[int, ...]:
    """``all`` (0-21), ``observable`` (all but 3, 9, 15) or integers like ``0,1,2`` -> the fault ids."""
    if value == "all":
        return tuple(range(TEP_FAULTS + 1))
    if value == "observable":
        return tuple(f for f in range(TEP_FAULTS + 1) if f not in TEP_UNOBSERVABLE)
    faults = int_tuple(value, "faults")
    bad = [f for f in faults if not 0 <= f <= TEP_FAULTS]
    if bad:
        raise InputError(f"TEP fault must be 0..{TEP_FAULTS}, got {bad[0]}")
    return faults


@dataclass
class TEPAlarmConfig:
    """The two-stage alarm of the Tennessee Eastman tasks (``heedful.process.alarm``): scored on the test windows
    next to the plain classifier, in ``metrics.json`` under ``test.two_stage``. It changes no training window."""

    alarm_rate: float = param(
        0.01, "two-stage alarm: share of normal validation windows its detector may flag, in (0, 1)"
    )
    alarm_detector: str = param("pca", "two-stage alarm detector: 'pca' (T²/SPE), 'model' (1 - p(normal)) or 'both'")
    alarm_span: int = param(10, "two-stage alarm: samples at the window's end whose pca statistic is averaged")
    alarm_persistence: int = param(1, "two-stage alarm: consecutive detector alarms (in one run) before it alarms")
    alarm_bin_hours: float = param(
        0.0, "two-stage alarm: a threshold per span of this many hours into the run (0: one)"
    )

    def check_alarm(self) -> None:
        check_within(self, "alarm_rate", 0.0, 1.0, open_low=True, open_high=True)
        check_at_least(self, 0, "alarm_bin_hours")
        tep_samples(self.alarm_bin_hours, "alarm_bin_hours")
        if self.alarm_detector not in ALARM_DETECTORS:
            raise InputError(f"alarm_detector must be one of {', '.join(ALARM_DETECTORS)}, got {self.alarm_detector!r}")
        check_at_least(self, 1, "alarm_span", "alarm_persistence")


ALARM_DETECTORS = ("pca", "model", "both")  # heedful.process.alarm.DETECTORS (this module stays numpy-free)


@dataclass
class TEPFaultsConfig(TEPAlarmConfig):
    """``tep_faults``: windows of the 52 Tennessee Eastman measurements, labelled with the state at their end."""

    window: int = param(40, "window length in 3-minute samples (40 = 2 h)")
    stride: int = param(1, "samples between the starts of training / validation windows")
    test_stride: int = param(1, "samples between the starts of test windows")
    val_fraction: float = param(0.2, "last share of every training run kept for validation")
    clip: float = param(5.0, "scaled inputs saturate at ±clip standard deviations instead of extrapolating (0 = off)")
    faults: tuple[int, ...] | str = param(
        "observable", "'all' (0-21), 'observable' (all but 3, 9, 15) or a list like 0,1,2"
    )

    def __post_init__(self):
        self.faults = tep_faults(self.faults)
        check_fields(self)
        if 0 not in self.faults:
            raise InputError("faults must include 0 (normal operation): classification needs the normal class")
        if len(self.faults) < 2:
            raise InputError("faults must name at least one fault besides 0")
        check_within(self, "val_fraction", 0.0, 0.5, open_low=True, open_high=True)
        check_at_least(self, 0, "clip")
        check_at_least(self, 1, "stride", "test_stride")
        check_within(self, "window", 2, 160)
        self.check_alarm()


# --- simulated Tennessee Eastman (tep-studio) --------------------------------------------------------

TEP_SIM_DISTURBANCES = 20  # tep-studio's IDV(1..20); its 21-28 are other disturbances than Braatz's fault 21
TEP_SAMPLE_HOURS = 0.05  # 3-minute samples, as in the Braatz files
TEP_SIM_CLASS_SEEDS = 10_000  # seeds per class in a run set: run i of class f uses base + f * 10000 + i
TEP_SIM_SET_GAP = 1_000_000  # seed distance between the training, validation and test sets
TEP_SIM_MAX_SEED = 2**31 - 1


def tep_sim_faults(value) -> tuple[int, ...]:
    """``all`` (0-20), ``observable`` (all but 3, 9, 15: the 18 classes of the benchmark) or integers like ``0,1,2``."""
    if value == "all":
        return tuple(range(TEP_SIM_DISTURBANCES + 1))
    if value == "observable":
        return tuple(f for f in range(TEP_SIM_DISTURBANCES + 1) if f not in TEP_UNOBSERVABLE)
    faults = int_tuple(value, "faults")
    bad = [f for f in faults if not 0 <= f <= TEP_SIM_DISTURBANCES]
    if bad:
        raise InputError(f"TEP disturbance must be IDV 1..{TEP_SIM_DISTURBANCES} (or 0 for normal), got {bad[0]}")
    return faults


def tep_samples(hours: float, name: str) -> int:
    """Hours -> 3-minute samples; a time that is not a whole number of samples is refused."""
    n = round(hours / TEP_SAMPLE_HOURS)
    if not math.isfinite(hours) or abs(n * TEP_SAMPLE_HOURS - hours) > 1e-6:
        raise InputError(f"{name} must be a multiple of 0.05 h (3-minute samples), got {hours}")
    return n


@dataclass
class TEPSimFaultsConfig(TEPAlarmConfig):
    """``tep_sim_faults``: windows of simulated Tennessee Eastman runs (``heedful.process.sources.tepsim``); both
    the benchmark and the online protocol are reported on the test runs (``heedful.process.tasks.tep_sim``)."""

    protocol: str = param(
        "benchmark", "training windows: 'benchmark' (wholly after the onset) or 'online' (every window)"
    )
    # trained on many runs, the classifier's own p(normal) is the better detector here (docs/process.md)
    alarm_detector: str = param("model", "two-stage alarm detector: 'pca' (T²/SPE), 'model' (1 - p(normal)) or 'both'")
    # early in a run the classifier alarms more often on normal windows than later (docs/process.md)
    alarm_bin_hours: float = param(
        2.0, "two-stage alarm: a threshold per span of this many hours into the run (0: one)"
    )
    faults: tuple[int, ...] | str = param(
        "observable", "'all' (0-20), 'observable' (all but 3, 9, 15) or a list like 0,1,2"
    )
    train_runs: int = param(10, "simulated training runs per class")
    val_runs: int = param(2, "simulated validation runs per class (normal included): they choose the best epoch")
    val_normal_runs: int = param(100, "simulated normal validation runs the two-stage alarm's thresholds are set on")
    test_runs: int = param(3, "simulated test runs per class (held-out seeds)")
    train_hours: float = param(25.0, "length of a training / validation run (h)")
    train_onset_hours: float = param(1.0, "disturbance switched on at this hour in training / validation runs")
    test_hours: float = param(48.0, "length of a test run (h)")
    test_onset_hours: float = param(8.0, "disturbance switched on at this hour in test runs")
    window: int = param(40, "window length in 3-minute samples (40 = 2 h)")
    stride: int = param(5, "samples between the starts of training / validation windows")
    test_stride: int = param(3, "samples between the starts of test windows (the resolution of the detection delay)")
    clip: float = param(5.0, "scaled inputs saturate at ±clip standard deviations instead of extrapolating (0 = off)")
    base_seed: int = param(1, "seed of the first training run; validation and test seeds start 1e6 and 2e6 later")
    cache: str | None = param(None, "run cache folder (None: $HEEDFUL_CACHE/tepsim or ~/.cache/heedful/tepsim)")
    workers: int = param(1, "simulation worker processes")
    scheduler: str | None = param(
        None, "simulate on dask.distributed: a scheduler (tcp://host:8786) or 'local' (--workers)"
    )

    def __post_init__(self):
        self.faults = tep_sim_faults(self.faults)
        check_fields(self)
        if self.protocol not in ("benchmark", "online"):
            raise InputError(f"protocol must be 'benchmark' or 'online', got {self.protocol!r}")
        if 0 not in self.faults or len(self.faults) < 2:
            raise InputError(f"faults must list 0 (normal) and at least one disturbance, got {self.faults}")
        for name in ("train_runs", "val_runs", "val_normal_runs", "test_runs"):
            if not 1 <= getattr(self, name) <= TEP_SIM_CLASS_SEEDS:
                raise InputError(
                    f"{name} must lie in [1, {TEP_SIM_CLASS_SEEDS}] runs per class, got {getattr(self, name)}"
                )
        check_within(self, "base_seed", 1, TEP_SIM_MAX_SEED - 3 * TEP_SIM_SET_GAP)
        check_at_least(self, 2, "window")
        check_at_least(self, 1, "stride", "test_stride", "workers")
        check_at_least(self, 0, "clip")
        runs = {"train": (self.train_hours, self.train_onset_hours), "test": (self.test_hours, self.test_onset_hours)}
        for split, (hours, onset) in runs.items():
            samples, first = tep_samples(hours, f"{split}_hours"), tep_samples(onset, f"{split}_onset_hours")
            if not 0 <= first < samples:
                raise InputError(f"{split}_onset_hours {onset} is not inside the {split} runs (0 to {hours} h)")
            usable = samples - first if split == "train" else samples  # training windows start after the onset
            if usable < self.window:
                raise InputError(f"{split} runs hold fewer than one window ({self.window} samples)")
        if self.scheduler is not None and not self.scheduler.strip():
            raise InputError("scheduler: give an address like tcp://host:8786, or leave it out")
        self.check_alarm()


# --- IndPenSim ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationConfig:
    """A reproducible set of IndPenSim batches. Batch i uses pensimpy seed ``base_seed + i * seed_stride`` and draws
    its recipe scales, length, fault and onset from ``numpy.random.default_rng(that seed)``.

    - recipe scales: sugar feed, aeration and back pressure, each uniform in ``[scale_low, scale_high]``;
    - ``fault_fraction`` of the batches get one fault from ``faults`` at a random onset;
    - lengths: uniform in ``[min_hours, max_hours]`` (variable-length batches), rounded to 12-minute steps;
    - ``time_jitter``: recipe timing stretched by a factor uniform in ``1 ± time_jitter``;
    - ``temperature_programmes``: half of the batches change the temperature set-point mid-batch."""

    batches: int = param(10, "number of batches")
    base_seed: int = param(1000, "pensimpy seed of batch 0")
    seed_stride: int = param(50, "seed step between batches (>= 50: closer seeds share random streams)")
    scale_low: float = param(0.7, "lowest recipe scale (sugar, aeration, pressure)")
    scale_high: float = param(1.3, "highest recipe scale")
    fault_fraction: float = param(0.0, "share of batches with one random fault")
    faults: tuple[int, ...] = param(PEN_FAULTS, "faults a faulty batch draws from")
    min_hours: float = param(230.0, "shortest batch (h)")
    max_hours: float = param(230.0, "longest batch (h)")
    time_jitter: float = param(0.0, "recipe timing stretched by 1 ± this")
    temperature_programmes: bool = param(False, "half the batches change the temperature set-point mid-batch")
    solver: str = param("fast", "'fast' (our right-hand side) or 'reference' (pensimpy's)")

    def __post_init__(self):
        object.__setattr__(self, "faults", int_tuple(self.faults, "faults"))
        check_fields(self)
        check_at_least(self, 1, "batches")
        if self.seed_stride < 50:
            raise InputError(
                f"seed_stride must be >= 50 (pensimpy batches closer than that share seeds), got {self.seed_stride}"
            )
        if not 0.5 <= self.scale_low <= self.scale_high <= 1.5:
            raise InputError(f"need 0.5 <= scale_low <= scale_high <= 1.5, got {self.scale_low}, {self.scale_high}")
        check_within(self, "fault_fraction", 0.0, 1.0)
        if any(f not in PEN_FAULTS for f in self.faults):
            raise InputError(f"faults must be IndPenSim faults 1-8, got {self.faults}")
        longest = PEN_FULL_STEPS * PEN_STEP_HOURS
        if not 2 * PEN_STEP_HOURS <= self.min_hours <= self.max_hours <= longest:
            raise InputError(f"need 0.4 <= min_hours <= max_hours <= 230, got {self.min_hours}, {self.max_hours}")
        check_within(self, "time_jitter", 0.0, 0.3)
        if self.solver not in ("fast", "reference"):
            raise InputError(f"solver must be 'fast' or 'reference', got {self.solver!r}")


@dataclass
class PenDataConfig:
    """Which batches an IndPenSim task uses and how they are split (by batch: no batch is in two splits)."""

    batches: int = param(200, "number of simulated batches")
    base_seed: int = param(1000, "pensimpy seed of batch 0")
    min_hours: float = param(200.0, "shortest batch (h)")
    max_hours: float = param(230.0, "longest batch (h)")
    fault_fraction: float = param(0.0, "share of batches with one random fault")
    cache: str | None = param(None, "batch cache folder (None: $HEEDFUL_CACHE/indpensim or ~/.cache/heedful/indpensim)")
    workers: int = param(1, "simulation worker processes")
    val_fraction: float = param(0.2, "share of batches for validation")
    test_fraction: float = param(0.2, "share of batches for testing")
    split_seed: int = param(0, "seed of the split by batch")

    def __post_init__(self):
        check_fields(self)
        for name in ("val_fraction", "test_fraction"):
            check_within(self, name, 0.0, 0.5, open_low=True, open_high=True)
        if self.batches < 5:
            raise InputError(f"IndPenSim tasks need at least 5 batches (train/val/test by batch), got {self.batches}")
        check_at_least(self, 1, "workers")
        self.generation()  # hours, fault fraction: checked where they are used

    def generation(self) -> GenerationConfig:
        faulty = self.fault_fraction > 0
        return GenerationConfig(
            batches=self.batches,
            base_seed=self.base_seed,
            min_hours=self.min_hours,
            max_hours=self.max_hours,
            fault_fraction=self.fault_fraction,
            time_jitter=0.0 if faulty else 0.1,
            temperature_programmes=not faulty,
        )


def _check_every(cfg) -> None:
    check_at_least(cfg, 1, "every")


@dataclass
class PenQualityConfig(PenDataConfig):
    every: int = param(5, "downsampling: keep one 12-minute step in every (5 = hourly)")
    thresholds: tuple[float, float] = param((15.0, 25.0), "g/L: C below the first, A from the second on")
    target: str = param(
        "class", "class: learn labels; value: regress final penicillin; trajectory: every step's, use last"
    )

    def __post_init__(self):
        if isinstance(self.thresholds, str):
            self.thresholds = tuple(p for p in self.thresholds.split(",") if p.strip())
        try:
            self.thresholds = tuple(float(v) for v in self.thresholds)
        except (TypeError, ValueError):
            raise InputError(f"thresholds: expected two numbers like 15,25, got {self.thresholds!r}") from None
        super().__post_init__()
        _check_every(self)
        if self.target not in ("class", "value", "trajectory"):
            raise InputError(f"target must be 'class', 'value' or 'trajectory', got {self.target!r}")
        if len(self.thresholds) != 2 or not 0 < self.thresholds[0] < self.thresholds[1]:
            raise InputError(f"thresholds must be two increasing positive values (g/L), got {self.thresholds}")


@dataclass
class PenPhaseConfig(PenDataConfig):
    every: int = param(2, "downsampling: keep one 12-minute step in every (2 = 24 min)")

    def __post_init__(self):
        super().__post_init__()
        _check_every(self)


@dataclass
class PenFaultsConfig(PenDataConfig):
    batches: int = param(80, "number of simulated batches")
    base_seed: int = param(500000, "pensimpy seed of batch 0")
    min_hours: float = param(230.0, "shortest batch (h)")
    fault_fraction: float = param(0.85, "share of batches with one random fault")
    window: int = param(30, "window length in 12-minute steps (30 = 6 h)")
    stride: int = param(5, "12-minute steps between the starts of windows")

    def __post_init__(self):
        super().__post_init__()
        check_at_least(self, 2, "window")
        check_at_least(self, 1, "stride")


@dataclass
class PenEndtimeConfig(PenDataConfig):
    threshold: float = param(20.0, "g/L of penicillin whose time of reaching is predicted")
    observe_hours: float = param(100.0, "hours of the batch the model sees (h)")
    every: int = param(5, "downsampling: keep one 12-minute step in every (5 = hourly)")

    def __post_init__(self):
        super().__post_init__()
        _check_every(self)
        if self.threshold <= 0 or self.observe_hours < 1:
            raise InputError(f"need threshold > 0 and observe_hours >= 1, got {self.threshold}, {self.observe_hours}")


@dataclass
class PenForecastConfig(PenDataConfig):
    history: int = param(24, "observed 12-minute steps (24 = 4.8 h)")
    horizon: int = param(12, "forecast 12-minute steps (12 = 2.4 h)")
    stride: int = param(12, "12-minute steps between the starts of windows")

    def __post_init__(self):
        super().__post_init__()
        check_at_least(self, 2, "history")
        check_at_least(self, 1, "horizon", "stride")


@dataclass
class PenSoftsensorConfig(PenDataConfig):
    every: int = param(5, "downsampling: keep one 12-minute step in every (5 = hourly)")

    def __post_init__(self):
        super().__post_init__()
        _check_every(self)


@dataclass
class PenRepairConfig(PenDataConfig):
    window: int = param(48, "window length in 12-minute steps (48 = 9.6 h)")
    stride: int = param(24, "12-minute steps between the starts of windows")
    min_gap: int = param(6, "shortest hidden segment (12-minute steps)")
    max_gap: int = param(18, "longest hidden segment (12-minute steps)")
    max_channels: int = param(3, "most channels hidden at once")

    def __post_init__(self):
        super().__post_init__()
        check_at_least(self, 1, "stride", "max_channels")
        if not 1 <= self.min_gap <= self.max_gap <= self.window - 8:
            raise InputError(f"need 1 <= min_gap <= max_gap <= window - 8, got {self.min_gap}, {self.max_gap}")


# --- your own data (``table``) ----------------------------------------------------------------------------

TABLE_TARGET_KINDS = ("step_class", "step_value", "batch_class", "batch_value", "forecast")


def _records_given(cls):
    """Let instances know which fields their caller passed (``_given``, not a field): a keyword wins over the
    schema file even when it equals the default (``window=0`` over the file's ``window = 6``)."""
    init = cls.__init__
    names = [f.name for f in dataclasses.fields(cls) if f.init]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_given", frozenset(names[: len(args)]) | frozenset(kwargs))
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


@_records_given
@dataclass
class TableConfig:
    """``table``: your own batch records (docs/process.md, "Your own data"). A ``schema`` TOML file holds any of
    these fields at its top level; a field passed as a keyword (a flag, a ``--config`` value) wins over the file,
    also when it equals the default. ``path`` in the file is relative to the file's folder. From Python, ``path``
    may also be a pandas DataFrame (one table: every row a time step, ``batch_column`` naming the batches); it is
    kept in ``frame`` and ``path`` reads ``<DataFrame>``, which is what a run's config.json records."""

    path: str = param("", "a folder of .csv / .parquet files (one batch each) or one .csv / .parquet table")
    schema: str | None = param(None, "TOML file with any of these fields (flags and --config values win over it)")
    time_column: str | None = param(None, "time column: numbers or time stamps (None: the row order is the time)")
    batch_column: str | None = param(None, "batch-id column of one table (None: every file is one batch)")
    inputs: str = param("", "comma-separated input columns ('': every column without another role)")
    target_column: str = param("", "the column to predict")
    target_kind: str = param(
        "step_class", "step_class (phase / fault per step), step_value, batch_class, batch_value or forecast"
    )
    window: int = param(
        0, "window length in rows (time steps of the table, or of --grid); 0: whole batches (padded, masked)"
    )
    horizon: int = param(
        0, "forecast: rows (time steps) ahead to predict from the last `window` rows (inputs and the target's past)"
    )
    stride: int = param(1, "rows (time steps) between the starts of windows (window > 0)")
    grid: float = param(
        0.0, "resample onto this time step (time units; seconds for time stamps); 0: uneven sampling refused"
    )
    split_column: str | None = param(None, "column holding train / val / test per batch (None: split by batch, seeded)")
    val_fraction: float = param(0.2, "share of batches for validation (without split_column)")
    test_fraction: float = param(0.2, "share of batches for testing (without split_column)")
    split_seed: int = param(0, "seed of the split by batch")
    skip_invalid: bool = param(False, "report bad batches and go on with the rest (default: the first one stops)")

    def __post_init__(self):
        self.frame = None  # the table itself, when ``path`` was given as a pandas DataFrame (Python only)
        if _is_frame(self.path):
            self.frame, self.path = self.path, FRAME
        if self.schema and not self._given >= set(_hints(TableConfig)) - {"schema"}:  # all given: nothing to read
            self._read_schema()
        if isinstance(self.inputs, tuple | list) and all(isinstance(c, str) for c in self.inputs):
            self.inputs = ",".join(self.inputs)
        check_fields(self)
        if not self.path:
            raise InputError("table: give the data (--path FOLDER_OR_FILE, or path in the --schema file)")
        if not self.target_column:
            raise InputError("table: give the column to predict (--target-column, or target_column in the schema)")
        if self.target_kind not in TABLE_TARGET_KINDS:
            raise InputError(f"target_kind must be one of {', '.join(TABLE_TARGET_KINDS)}, got {self.target_kind!r}")
        check_at_least(self, 0, "window", "grid")
        check_at_least(self, 1, "stride")
        if self.window == 1:
            raise InputError("window must be 0 (whole batches) or >= 2, got 1")
        check_at_least(self, 0, "horizon", "split_seed")
        if self.target_kind == "forecast" and (self.window < 2 or self.horizon < 1):
            raise InputError(f"forecast needs window >= 2 and horizon >= 1, got {self.window}, {self.horizon}")
        if self.target_kind != "forecast" and self.horizon:
            raise InputError(f"horizon is for target_kind forecast, got target_kind {self.target_kind!r}")
        for name in ("val_fraction", "test_fraction"):
            check_within(self, name, 0.0, 0.5, open_low=True, open_high=True)
        inputs = self.input_list()
        repeated = sorted(c for c, n in Counter(inputs).items() if n > 1)
        if repeated:
            raise InputError(f"inputs: {repeated} given more than once (a channel is used once)")
        roles = [self.time_column, self.batch_column, self.target_column, self.split_column]
        named = [c for c in roles if c is not None]
        if len(set(named)) < len(named):
            names = ("time_column", "batch_column", "target_column", "split_column")
            same = [n for n, c in zip(names, roles, strict=True) if c is not None and named.count(c) > 1]
            raise InputError(
                f"{' and '.join(same)} name the same column {roles[names.index(same[0])]!r}: one role each"
            )
        clash = sorted({c for c in inputs if c in roles})
        if clash:
            raise InputError(f"inputs {clash} also have another role (time, batch, target or split column)")

    def input_list(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.inputs.split(",") if c.strip())

    def _read_schema(self) -> None:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: the same parser, published as tomli (a dependency there)
            import tomli as tomllib

        where = Path(self.schema)
        try:
            found = tomllib.loads(where.read_text(encoding="utf-8-sig"))  # a BOM is not TOML, but harmless
        except OSError as err:
            raise InputError(f"{where}: cannot read the schema: {err.strerror}") from None
        except UnicodeDecodeError:
            raise InputError(f"{where}: not UTF-8 text (TOML files are UTF-8; save it as UTF-8)") from None
        except tomllib.TOMLDecodeError as err:
            raise InputError(f"{where}: not valid TOML: {err}") from None
        settable = {n: t for n, t in _hints(TableConfig).items() if n != "schema"}
        unknown = sorted(set(found) - set(settable))
        if unknown:
            raise InputError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(settable)}")
        if isinstance(found.get("path"), str):
            found["path"] = str(where.parent / found["path"])
        inputs = found.get("inputs")
        if inputs == []:  # "" would mean every other column: the opposite of what it says
            raise InputError(f"{where}: inputs is an empty list; name the input columns, or leave the key out")
        if isinstance(inputs, list) and all(isinstance(c, str) for c in inputs):
            found["inputs"] = ",".join(inputs)
        values = validate_values(found, settable, str(where))
        for key, value in values.items():
            if key not in self._given:  # a keyword (a flag, a --config value) wins, also when it is the default
                setattr(self, key, value)


FRAME = "<DataFrame>"  # a TableConfig's path when the table was given as a DataFrame (how errors name it)


def _is_frame(value) -> bool:
    """A pandas DataFrame, told without importing pandas (this module stays light)."""
    return type(value).__name__ == "DataFrame" and hasattr(value, "columns")


def _hints(cls) -> dict:
    import typing

    return typing.get_type_hints(cls)


# the config class of each task (``heedful.process.names.TASKS``): tasks and the CLI read it from here
TASK_CONFIGS = {
    "tep_faults": TEPFaultsConfig,
    "pen_quality": PenQualityConfig,
    "pen_phase": PenPhaseConfig,
    "pen_faults": PenFaultsConfig,
    "pen_endtime": PenEndtimeConfig,
    "pen_forecast": PenForecastConfig,
    "pen_softsensor": PenSoftsensorConfig,
    "pen_repair": PenRepairConfig,
    "tep_sim_faults": TEPSimFaultsConfig,
    "table": TableConfig,
}


# --- commands -----------------------------------------------------------------------------------------


@dataclass
class TrainTarget:
    """What ``heedful process train`` trains."""

    task: str | None = param(None, "task name (not needed with --resume)")
    model: str = param("bigru_attn", "neural model name")

    def __post_init__(self):
        if self.task is not None:
            check_task(self.task)
        if self.model not in NEURAL_MODELS:
            raise InputError(f"unknown model {self.model!r}; expected one of: {', '.join(NEURAL_MODELS)}")


@dataclass
class RunConfig:
    """Where ``train`` and ``compare`` write, or which run they continue."""

    out: str = param("runs", "folder for run folders")
    resume: str | None = param(None, "continue the run in this run folder (its config wins; flags may only repeat it)")


@dataclass
class CompareConfig:
    models: tuple[str, ...] = param((), "comma-separated model names (default: the task's comparison set)")


@dataclass
class ExplainConfig:
    fault: int | None = param(None, "fault tasks: which fault's test run to explain")
    sample: int = param(0, "seq2seq_attn runs: which test sample; tep_sim_faults: which test run of --fault")
    out: str | None = param(None, "PNG path (default in RUN: explain_fault<F>.png, _sample<S>.png or _batches.png)")
    csv: str | None = param(
        None, "window classifiers: draw the attention over this batch of new values (as predict reads it)"
    )
    impute: str | None = param(
        None, "with --csv: 'ffill' fills NaN / inf from the previous row instead of refusing them"
    )
    device: str = param("auto", DEVICE_HELP)

    def __post_init__(self):
        check_device_spec(self.device)
        check_at_least(self, 0, "sample")
        if self.impute not in (None, "ffill"):
            raise InputError(f"unknown imputation {self.impute!r}; expected 'ffill'")


@dataclass
class PredictConfig:
    csv: str = param("", "one row per time step, one column per input variable (a header row is matched by name)")
    impute: str | None = param(None, "'ffill': fill NaN / inf from the previous row instead of refusing them")
    out: str | None = param(None, "write the predictions as JSON here")
    probabilities: bool = param(
        False, "answer as the service does (docs/serve.md): a row per window with its class probabilities"
    )
    attention: bool = param(False, "answer as the service does: a row per window with its attention per step")
    device: str = param("auto", DEVICE_HELP)

    def __post_init__(self):
        check_device_spec(self.device)
        if self.impute not in (None, "ffill"):
            raise InputError(f"unknown imputation {self.impute!r}; expected 'ffill'")


__all__ = [
    "CompareConfig",
    "ExplainConfig",
    "GenerationConfig",
    "ModelConfig",
    "PenDataConfig",
    "PenEndtimeConfig",
    "PenFaultsConfig",
    "PenForecastConfig",
    "PenPhaseConfig",
    "PenQualityConfig",
    "PenRepairConfig",
    "PenSoftsensorConfig",
    "PredictConfig",
    "RunConfig",
    "TEPFaultsConfig",
    "TableConfig",
    "TrainConfig",
    "TrainTarget",
]
