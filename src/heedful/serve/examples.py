"""Request examples for the OpenAPI page that the loaded models accept: a window and a CSV text with each process
model's own variables, as many steps as it takes, every value its training mean."""

from __future__ import annotations

import csv
import io

import numpy as np

ANY_LENGTH_STEPS = 8  # steps of the example window of a model that takes any length


def example_window(pm) -> list[list[float]]:
    steps = pm.window_length or max(ANY_LENGTH_STEPS, _min_steps(pm))
    mean = getattr(getattr(pm.data, "scaler", None), "mean", None)
    row = np.zeros(len(pm.variables)) if mean is None else np.asarray(mean, np.float64).reshape(-1)
    row = [float(f"{v:.4g}") for v in row[: len(pm.variables)]]
    return [list(row) for _ in range(steps)]


def _min_steps(pm) -> int:
    task = getattr(pm, "task", None)
    try:
        return int(task.min_steps(pm.data)) if task is not None else 2
    except (AttributeError, TypeError, ValueError):
        return 2


def example_csv(pm) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(pm.variables)
    writer.writerows(example_window(pm))
    return out.getvalue()


def process_examples(processes: dict) -> tuple[dict, dict]:
    """(application/json examples, text/csv examples) by name, for the OpenAPI page."""
    several = len(processes) > 1
    json_examples, csv_examples = {}, {}
    for name, pm in processes.items():
        named = {"model": name} if several else {}
        steps = len(example_window(pm))
        json_examples[f"{name}: window"] = {
            "summary": f"{name}: one window of {steps} steps (the training means)",
            "value": named | {"windows": [example_window(pm)]},
        }
        json_examples[f"{name}: csv"] = {
            "summary": f"{name}: a CSV text with a header row",
            "value": named | {"csv": example_csv(pm)},
        }
        csv_examples[name] = {
            "summary": f"{name} (add ?model={name} when several are loaded)",
            "value": example_csv(pm),
        }
    return json_examples, csv_examples
