"""Named task dataset builders; each returns train/val/test splits scaled on train only, plus a metric.

- ``tep_faults``: Tennessee Eastman fault classification (windows).
- ``pen_quality``, ``pen_phase``, ``pen_faults``: IndPenSim batch quality class, per-step phase, fault type.
- ``pen_endtime``, ``pen_forecast``, ``pen_softsensor``, ``pen_repair``: IndPenSim end time (censored
  regression), multi-step forecasting, penicillin soft sensor, repair of hidden segments.
- ``tep_sim_faults``: Tennessee Eastman fault classification on simulated runs (tep-studio), two protocols.
"""

from heedful.errors import InputError
from heedful.process.names import TASKS, check_task
from heedful.process.tasks.base import KINDS, Split, TaskData


def _builders():
    from heedful.process.tasks import pen_classify as pc
    from heedful.process.tasks import pen_regress as pr

    return {
        "pen_quality": (pc.PenQualityConfig, pc.build_pen_quality),
        "pen_phase": (pc.PenPhaseConfig, pc.build_pen_phase),
        "pen_faults": (pc.PenFaultsConfig, pc.build_pen_faults),
        "pen_endtime": (pr.PenEndtimeConfig, pr.build_pen_endtime),
        "pen_forecast": (pr.PenForecastConfig, pr.build_pen_forecast),
        "pen_softsensor": (pr.PenSoftsensorConfig, pr.build_pen_softsensor),
        "pen_repair": (pr.PenRepairConfig, pr.build_pen_repair),
        **_tep_sim_builders(),
    }


def _tep_sim_builders():  # simulated TEP (issue 12)
    from heedful.process.tasks import tep_sim

    return {"tep_sim_faults": (tep_sim.TEPSimFaultsConfig, tep_sim.build_tep_sim_faults)}


def task_config(name: str, **params):
    """The validated config dataclass of an IndPenSim task (TEP has its own)."""
    check_task(name)
    config_cls, _ = _builders()[name]
    known = {f for f in config_cls.__dataclass_fields__}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InputError(f"task {name}: unknown parameters {unknown}; known: {', '.join(sorted(known))}")
    return config_cls(**params)


def build_task(name: str, **params) -> TaskData:
    if name == "tep_faults":
        from heedful.process.tasks.tep_faults import TEPFaultsConfig, build_tep_faults

        return build_tep_faults(TEPFaultsConfig(**params))
    cfg = task_config(name, **params)
    return _builders()[name][1](cfg)


def evaluate(data: TaskData, pred):
    """The task's test metrics for predictions on ``data.test`` (class ids, or scaled values)."""
    import numpy as np

    if data.name == "tep_faults":
        from heedful.process.tasks.tep_faults import tep_report

        return tep_report(pred, data.test, tuple(data.params["faults"]))
    from heedful.process.tasks import pen_classify as pc
    from heedful.process.tasks import pen_regress as pr

    reports = {
        "pen_quality": lambda: pc.quality_report(pred, data),
        "pen_phase": lambda: pc.accuracy_report(pred, data.test, data.class_names),
        "pen_faults": lambda: pc.fault_report(pred, data.test, data.class_names),
        "pen_endtime": lambda: pr.endtime_report(pred, data),
        "pen_forecast": lambda: pr.forecast_report(pred, data),
        "pen_softsensor": lambda: pr.softsensor_report(pred, data),
        "pen_repair": lambda: pr.repair_report(pred, data),
        "tep_sim_faults": lambda: _tep_sim_report(pred, data),
    }
    if data.name in reports:
        return reports[data.name]()
    return {"accuracy": float((np.asarray(pred) == data.test.y).mean())}


def _tep_sim_report(pred, data):  # simulated TEP (issue 12)
    from heedful.process.tasks.tep_sim import tep_sim_report

    return tep_sim_report(pred, data)


__all__ = ["KINDS", "TASKS", "Split", "TaskData", "build_task", "evaluate", "task_config"]
