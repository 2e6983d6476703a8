"""The confusion matrix of a classification run, from its metrics.json (``test.confusion``: rows are the true
classes, columns the predicted ones). Labels: ``test.confusion_labels`` or ``test.class_names`` when the run
stores them, else the task's ``faults``, else the class ids."""

from __future__ import annotations

from markupsafe import Markup

from heedful.report.render import render


def find_confusion(metrics) -> list[list[int]] | None:
    test = metrics.get("test") if isinstance(metrics, dict) else None
    matrix = test.get("confusion") if isinstance(test, dict) else None
    ok = (
        isinstance(matrix, list)
        and matrix
        and all(isinstance(r, list) and len(r) == len(matrix) for r in matrix)
        and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for r in matrix for c in r)
    )
    return matrix if ok else None


def labels(metrics: dict, config, n: int) -> list[str]:
    test = metrics["test"]
    params = config.get("task_params") if isinstance(config, dict) else None
    faults = params.get("faults") if isinstance(params, dict) else None
    for candidate in (test.get("confusion_labels"), test.get("class_names"), faults):
        if isinstance(candidate, list) and len(candidate) == n:
            return [_label(c) for c in candidate]
    return [str(i) for i in range(n)]


def _label(c) -> str:
    return "normal" if c == 0 and isinstance(c, int) else str(c)


def confusion_table(matrix: list[list[int]], names: list[str]) -> Markup:
    rows = []
    for label, counts in zip(names, matrix, strict=True):
        total = sum(counts)
        cells = [{"count": c, "share": c / total if total else 0.0} for c in counts]
        rows.append({"label": label, "cells": cells, "total": total})
    return render("confusion.html", labels=names, rows=rows)
