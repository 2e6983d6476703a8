"""``heedful process explain RUN --faithfulness``: a trained run's attention measured by ``heedful.explain`` on its
test split; ``faithfulness.json`` and ``faithfulness.png`` go into the run folder."""

from __future__ import annotations

from pathlib import Path

from heedful.devices import model_device, to_device
from heedful.errors import InputError
from heedful.explain import Explainable, FaithfulnessConfig, deletion_plot, measure_faithfulness
from heedful.process.runner import load_with_data
from heedful.process.train import _lengths_arg
from heedful.runs import read_json, write_json


def explainable(model, kind: str) -> Explainable:
    """A process model (pooled classifier / regressor, Seq2Seq) behind the ``Explainable`` interface."""

    device = model_device(model)

    def forward(x, lengths):  # computed where the model is, answered where x is (the measures stay on the CPU)
        here = x.device
        x, lengths = to_device((x, lengths), device)
        out = model(x, _lengths_arg(x, lengths))
        return to_device((out.prediction, out.attention), here)

    return Explainable(forward, "classification" if kind == "classification" else "regression")


def faithfulness_run(run_dir: str | Path, config: FaithfulnessConfig | None = None, device: str = "cpu") -> dict:
    """Measured on the run's test split, which is built again from its training data; the model on ``device``."""
    run_dir = Path(run_dir)
    saved = read_json(run_dir / "config.json") if (run_dir / "config.json").exists() else None
    if saved is not None and "model" not in saved:
        raise InputError(f"{run_dir} holds several models: pass one of its model folders, {run_dir}/models/NAME")
    data, model, saved = load_with_data(run_dir, device)
    if len(data.test) == 0:
        raise InputError(f"task {data.name} has no test samples here: faithfulness is measured on the test split")
    names = data.class_names if data.kind == "classification" else None
    result = measure_faithfulness(explainable(model, data.kind), data.test.x, data.test.lengths, config, names)
    result = {"task": data.name, "model": saved["model"], **result}
    write_json(run_dir / "faithfulness.json", result)
    skipped = f", predictions other than {', '.join(result['skipped_classes'])}" if result["skipped_classes"] else ""
    title = f"{saved['model']} on {data.name}: {result['samples']} test samples{skipped}"
    deletion_plot(result, run_dir / "faithfulness.png", title=title)
    return result
