"""Named task dataset builders; each returns train/val/test splits scaled on train only, plus a metric."""

from heedful.process.tasks.base import Split, TaskData

TASKS = ("tep_faults",)


def build_task(name: str, **params) -> TaskData:
    if name == "tep_faults":
        from heedful.process.tasks.tep_faults import TEPFaultsConfig, build_tep_faults

        return build_tep_faults(TEPFaultsConfig(**params))
    raise ValueError(f"unknown task {name!r}; expected one of: {', '.join(TASKS)}")


__all__ = ["TASKS", "Split", "TaskData", "build_task"]
