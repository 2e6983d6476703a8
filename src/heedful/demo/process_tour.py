"""The process part of ``heedful demo``: a short run on the real Tennessee Eastman data (shipped in ``bibmon``).

A bi-GRU with attention pooling learns normal operation and faults 1, 2 and 4 from 20-sample windows (one hour),
is tested on the Braatz test runs (faults start at sample 160), and its attention around the onset of fault 4 is
drawn. A few seconds on one CPU thread; the full comparison is ``heedful process compare --task tep_faults``.
"""

from __future__ import annotations

from pathlib import Path

FAULTS = (0, 1, 2, 4)


def run_process_tour(out_dir: Path, epochs: int = 3, seed: int = 0) -> dict:
    from heedful.process.explain import explain_tep_run
    from heedful.process.runner import train_run
    from heedful.process.train import TrainConfig
    from heedful.runs import read_json

    cfg = TrainConfig(epochs=max(1, epochs), patience=epochs + 1, seed=seed)
    task_params = {"window": 20, "faults": list(FAULTS), "stride": 2}
    run = train_run(
        "tep_faults", "bigru_attn", task_params, {"hidden_size": 16}, cfg, out_dir / "process", progress=False
    )
    test = read_json(run / "metrics.json")["test"]
    onset = explain_tep_run(run, 4, out_dir / "tep_fault4_attention.png")
    return {
        "run": str(run),
        "per_fault_accuracy": test["per_fault_accuracy"],
        "false_alarm_rate": test["false_alarm_rate"],
        "post_onset_attention": onset["post_onset_attention"],
        "post_onset_share": onset["post_onset_share"],
    }
