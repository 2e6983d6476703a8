"""One answer shape for a process model, built here for both ``heedful process predict --probabilities
--attention`` and the service's ``POST /v1/process/predict``, so the two cannot drift.

One row per model input (a window, or the whole batch):

- classification: ``{"class": name, "probabilities": [per class], "attention": [per step] | null}``;
- per-step classification: ``{"classes": [name per step], "probabilities": [per step, per class], ...}``;
- regression and forecasts: ``{"values": [...]}`` in the targets' units, with ``attention`` (per output step and
  input step for Seq2Seq models).

Numbers are rounded to 6 digits (the models compute in float32). An answer over a CSV also names where each window
ends (``window_ends``, exclusive row) and, for fault tasks (classes ``normal`` and faults), ``first_alarm``: the end
of the first window not called normal (null: none). ``heedful process predict`` named it ``first_alarm_step``
before the two answers were made one; nothing reads a predict file back, so only the name changed.
"""

from __future__ import annotations

import numpy as np
import torch

from heedful.devices import model_device, to_device
from heedful.process.data import DataSpec

DIGITS = 6
NORMAL = "normal"


@torch.no_grad()
def model_outputs(model: torch.nn.Module, x: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray | None]:
    """The raw outputs (logits, or scaled values) and attention of ``model`` for scaled full-length inputs
    ``x`` (N, T, F), computed where the model is and returned as float32 arrays."""
    model.eval()
    device = model_device(model)
    preds, maps = [], []
    for chunk in torch.from_numpy(np.ascontiguousarray(x, np.float32)).split(batch_size):
        out = model(to_device(chunk, device))
        preds.append(out.prediction.float().cpu())
        if out.attention is not None:
            maps.append(out.attention.float().cpu())
    return torch.cat(preds).numpy(), (torch.cat(maps).numpy() if maps else None)


def answer_rows(
    spec: DataSpec,
    prediction: np.ndarray,
    attention: np.ndarray | None,
    *,
    probabilities: bool = True,
    with_attention: bool = True,
) -> list[dict]:
    """One row per input from ``model_outputs``: the class (classes per step) or values, and, as asked, the class
    probabilities and the attention (null for a model without)."""
    if "classification" in spec.kind:
        probs = torch.softmax(torch.from_numpy(prediction), dim=-1).numpy()  # (N, C) or (N, T, C)
        rows = []
        for row in probs:
            ids = row.argmax(-1)
            if spec.kind == "classification":
                answer = {"class": spec.class_names[int(ids)]}
            else:
                answer = {"classes": [spec.class_names[int(c)] for c in ids]}
            rows.append(answer | ({"probabilities": rounded(row)} if probabilities else {}))
    else:
        scaler = spec.target_scaler
        values = scaler.inverse_transform(prediction) if scaler is not None else prediction
        rows = [{"values": rounded(v)} for v in values]
    if with_attention:
        for i, row in enumerate(rows):
            row["attention"] = rounded(attention[i]) if attention is not None else None
    return rows


def raises_alarms(spec: DataSpec) -> bool:
    """A fault task: one class per window, the first of them ``normal``."""
    return spec.kind == "classification" and spec.class_names[:1] == [NORMAL]


def first_alarm(ends, classes) -> int | None:
    """The end of the first window whose class is not normal, or None."""
    return next((int(e) for e, c in zip(ends, classes, strict=True) if c != NORMAL), None)


def rounded(a, digits: int = DIGITS):
    return np.round(np.asarray(a, np.float64), digits).tolist()
