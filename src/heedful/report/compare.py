"""A comparison run (``heedful process compare``): one summary table (its ``table.md``), every model's full
test metrics folded under it, and the models' training curves together."""

from __future__ import annotations

from heedful.report.curves import Series, figures
from heedful.report.markdown import to_html
from heedful.report.render import Section, section


def compare_sections(run) -> list[Section]:
    rows, loss, score = [], {}, {}
    for path in sorted((run.folder / "models").glob("*/metrics.json")):
        name = path.parent.name
        metrics = run.json(path.relative_to(run.folder).as_posix())
        if isinstance(metrics, dict):
            rows.append({"model": name} | {k: v for k, v in metrics.items() if k != "model"})
        _model_curves(run, path.parent, name, loss, score)
    table = run.folder / "table.md"
    summary = to_html(table.read_text(encoding="utf-8")) if table.is_file() else None
    out = [section("models", "Models", "compare.html", summary=summary, models=rows)] if rows or summary else []
    curves = figures({"training loss": loss, "validation": score})
    return out + ([section("training-curves", "Training curves", "raw.html", html=curves)] if curves else [])


def _model_curves(run, folder, name: str, loss: Series, score: Series) -> None:
    saved = folder / "checkpoint" / "state.json"
    state = run.json(saved.relative_to(run.folder).as_posix()) if saved.exists() else None
    points = [h for h in (state or {}).get("history", []) if isinstance(h, dict)] if isinstance(state, dict) else []
    if not points:
        return
    val = next((k for k in points[0] if k.startswith("val")), None)
    for key, target in (("loss", loss), (val, score)):
        if key and all(isinstance(h.get(key), int | float) for h in points):
            target[f"{name} {key}"] = ([h.get("epoch") for h in points], [float(h[key]) for h in points])
