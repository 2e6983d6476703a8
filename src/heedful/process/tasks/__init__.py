"""The task registry: one ``Task`` object per name; each builds train/val/test splits scaled on train only and
scores predictions.

- ``tep_faults``: Tennessee Eastman fault classification (windows).
- ``pen_quality``, ``pen_phase``, ``pen_faults``: IndPenSim batch quality class, per-step phase, fault type.
- ``pen_endtime``, ``pen_forecast``, ``pen_softsensor``, ``pen_repair``: IndPenSim end time (censored
  regression), multi-step forecasting, penicillin soft sensor, repair of hidden segments.
- ``tep_sim_faults``: Tennessee Eastman fault classification on simulated runs (tep-studio), two protocols.
- ``table``: your own batch records (CSV / Parquet files described by a TOML schema or flags).

The names, in this order, are ``heedful.process.names.TASKS`` (torch- and numpy-free, for the CLI's help); a test
holds the registry to them.
"""

from __future__ import annotations

from heedful.process.data import KINDS, DataSpec, Split, TaskData
from heedful.process.names import TASKS, check_task
from heedful.process.tasks import pen_classify, pen_regress, table, tep_faults, tep_sim
from heedful.process.tasks.base import Task, Trained

REGISTRY: dict[str, Task] = {
    t.name: t
    for t in (
        tep_faults.TEPFaults(),
        pen_classify.PenQuality(),
        pen_classify.PenPhase(),
        pen_classify.PenFaults(),
        pen_regress.PenEndtime(),
        pen_regress.PenForecast(),
        pen_regress.PenSoftsensor(),
        pen_regress.PenRepair(),
        tep_sim.TEPSimFaults(),
        table.TableTask(),
    )
}


def registry() -> dict[str, Task]:
    """Task name -> its ``Task``."""
    return REGISTRY


def get_task(name: str) -> Task:
    check_task(name)
    return REGISTRY[name]


def task_config(name: str, **params):
    """The validated config dataclass of a task."""
    return get_task(name).config(**params)


def build_task(name: str, **params) -> TaskData:
    task = get_task(name)
    return task.build(task.config(**params))


def evaluate(data: TaskData, pred):
    """The task's test metrics for predictions on ``data.test`` (class ids, or scaled values)."""
    return get_task(data.name).evaluate(data, pred)


__all__ = [
    "KINDS",
    "TASKS",
    "DataSpec",
    "Split",
    "Task",
    "TaskData",
    "Trained",
    "build_task",
    "evaluate",
    "get_task",
    "registry",
    "task_config",
]
