"""``heedful demo``: a small end-to-end tour on embedded data, written to a run folder."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from heedful.demo.config import ProcessTourConfig, SequenceTourConfig


def run_demo(
    out_root: str | Path = "runs",
    config: SequenceTourConfig | None = None,
    process: ProcessTourConfig | None = None,
) -> Path:
    """Run the tour; return the run folder (config.json, metrics.json, PNG heatmaps)."""
    import torch

    from heedful.demo.process_tour import run_process_tour
    from heedful.demo.sequence_tour import run_sequence_tour
    from heedful.runs import new_run_dir, write_json

    config, process = config or SequenceTourConfig(), process or ProcessTourConfig()
    torch.set_num_threads(1)  # small RNNs: one thread measured faster than two here
    run_dir = new_run_dir(out_root, "demo")
    write_json(run_dir / "config.json", {"command": "demo", "sequence": asdict(config), "process": asdict(process)})
    metrics = run_sequence_tour(config, run_dir)
    metrics["process"] = run_process_tour(run_dir, process, seed=config.seed)  # real TEP data, a few seconds
    write_json(run_dir / "metrics.json", metrics)
    return run_dir


__all__ = ["ProcessTourConfig", "SequenceTourConfig", "run_demo"]
