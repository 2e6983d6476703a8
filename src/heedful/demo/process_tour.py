"""The process part of ``heedful demo``: a short run on the real Tennessee Eastman data (shipped in ``bibmon``).

A bi-GRU with attention pooling learns normal operation and faults 1, 2 and 4 from 20-sample windows (one hour),
is tested on the Braatz test runs (faults start at sample 160), and its attention around the onset of fault 4 is
drawn. A few seconds on one CPU thread; the full comparison is ``heedful process compare --task tep_faults``.
"""

from __future__ import annotations

from pathlib import Path

from heedful.demo.config import ProcessTourConfig


def run_process_tour(out_dir: Path, config: ProcessTourConfig | None = None, seed: int = 0) -> dict:
    from heedful.process.config import ModelConfig, TrainConfig
    from heedful.process.runner import explain_run, train_run
    from heedful.runs import read_json

    config = config or ProcessTourConfig()
    cfg = TrainConfig(epochs=config.epochs, patience=config.epochs + 1, seed=seed)
    task_params = {"window": config.window, "faults": config.faults, "stride": config.stride}
    model = ModelConfig(hidden_size=config.hidden_size)
    run = train_run("tep_faults", "bigru_attn", task_params, model, cfg, out_dir / "process", progress=False)
    test = read_json(run / "metrics.json")["test"]
    fault = config.explain_fault
    onset = explain_run(run, out_dir / f"tep_fault{fault}_attention.png", fault)
    return {
        "run": str(run),
        "per_fault_accuracy": test["per_fault_accuracy"],
        "false_alarm_rate": test["false_alarm_rate"],
        "post_onset_attention": onset["post_onset_attention"],
        "post_onset_share": onset["post_onset_share"],
    }
