"""One HTML file per run: config, metrics tables, training curves, pictures and browsable rationale predictions.

The page is rendered from the jinja2 templates in ``templates/`` (autoescaped). Everything is inline (pictures as
base64, curves as plotly figures with plotly.js embedded, or inline SVG when plotly is not installed), so the file
opens anywhere without network. A missing or corrupt file becomes a problem line shown at the top of the page and
returned to the caller; the rest of the report is still written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from heedful.errors import InputError
from heedful.report.compare import compare_sections
from heedful.report.confusion import confusion_table, find_confusion, labels
from heedful.report.curves import figures, history_series
from heedful.report.index import index_section
from heedful.report.pictures import pictures
from heedful.report.rationales import evaluated_predictions, rationales
from heedful.report.render import Section, render, section
from heedful.runs import atomic_write, check_out_path, read_json

# files a run of each command should hold (beyond config.json)
EXPECTED = {
    "process train": ("metrics.json", "history.json"),
    "process compare": ("table.md",),
    "rationale train": ("metrics.json",),
    "rationale predict": ("predictions.json",),
    "rationale evaluate": ("metrics.json",),
    "rationale index": ("items.json",),
    "rationale pretrain": ("metrics.json",),
}
FAITHFULNESS_KEYS = ("units", "removal", "drop", "samples", "skipped_classes", "headline", "auc", "rank_agreement")


@dataclass
class ReportResult:
    path: Path
    problems: list[str] = field(default_factory=list)


@dataclass
class RunFiles:
    """A run folder's files, read once each; what is missing or corrupt is collected in ``problems``."""

    folder: Path
    problems: list[str] = field(default_factory=list)

    def json(self, name: str, expected: bool = False):
        """The parsed file, or None (a problem when it was expected or is corrupt)."""
        path = self.folder / name
        if not path.exists():
            if expected:
                self.problems.append(f"{path}: missing")
            return None
        try:
            return read_json(path)
        except (InputError, OSError) as err:
            self.problems.append(str(err))
            return None


def write_report(run: str | Path, out: str | Path | None = None, max_samples: int = 2000) -> ReportResult:
    """Write the report of ``run`` to ``out`` (default ``run/report.html``). A folder without ``config.json``
    is not a run: InputError, nothing written."""
    folder = Path(run)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such run folder: {folder}")
    if not (folder / "config.json").exists():
        raise InputError(f"not a run folder: {folder} (no config.json)")
    target = folder / "report.html"
    if out is not None:  # checked before any work; the run's own files are what the report reads
        target = check_out_path(out, [p for p in folder.rglob("*") if p.is_file() and p != target])
    files = RunFiles(folder)
    config = files.json("config.json", expected=True)
    command = _command(folder, config)
    sections = _sections(files, config, command, max_samples)
    uses_plotly = any("plotly-graph-div" in s.body for s in sections)
    plotly_js = ""
    if uses_plotly:
        from markupsafe import Markup
        from plotly.offline import get_plotlyjs

        plotly_js = Markup(get_plotlyjs())
    page = render(
        "page.html",
        lang="en",
        title=f"heedful report: {folder.name}",
        folder=folder,
        command=command,
        sections=sections,
        problems=files.problems,
        plotly_js=plotly_js,
    )
    atomic_write(target, lambda p: p.write_text(page + "\n", encoding="utf-8"))
    return ReportResult(target, files.problems)


def _command(folder: Path, config) -> str | None:
    command = config.get("command") if isinstance(config, dict) else None
    if command is None and isinstance(config, dict) and "model" in config and (folder / "adapter.safetensors").exists():
        command = "rationale train"
    return command


def _sections(files: RunFiles, config, command: str | None, max_samples: int) -> list[Section]:
    expected = EXPECTED.get(command, ())
    folder = files.folder
    out = [section("config", "Config", "config.html", config=config)]
    metrics = files.json("metrics.json", expected="metrics.json" in expected)
    matrix = find_confusion(metrics)
    if metrics is not None:
        shown = (
            metrics
            if matrix is None
            else metrics | {"test": {k: v for k, v in metrics["test"].items() if k != "confusion"}}
        )
        out.append(section("metrics", "Metrics", "value.html", obj=shown, percent=False))
    if matrix is not None:
        table = confusion_table(matrix, labels(metrics, config, len(matrix)))
        out.append(section("confusion-matrix", "Confusion matrix (test)", "raw.html", html=table))
    for name in expected:
        if name in ("items.json", "table.md") and not (folder / name).is_file():  # the others are read below
            files.problems.append(f"{folder / name}: missing")
    if command == "rationale index":
        out += [s for s in [index_section(folder, files.problems)] if s is not None]
    faithfulness = files.json("faithfulness.json")  # heedful process|rationale explain RUN --faithfulness
    if isinstance(faithfulness, dict):
        keys = FAITHFULNESS_KEYS + (("score_change",) if "score_change" in faithfulness else ())
        shown = {k: faithfulness.get(k) for k in keys}
        out.append(
            section("faithfulness-of-attention", "Faithfulness of attention", "value.html", obj=shown, percent=False)
        )
    if command == "process compare":
        out += compare_sections(files)
    curves = _curves(files, metrics, "history.json" in expected)
    if curves:
        out.append(section("training-curves", "Training curves", "raw.html", html=curves))
    found = pictures(folder, files.problems)
    if found:
        out.append(section("pictures", "Pictures", "pictures.html", pictures=found))
    predictions = files.json("predictions.json", expected="predictions.json" in expected)
    if predictions is None and command == "rationale evaluate" and isinstance(config, dict):
        predictions = evaluated_predictions(config, files.problems)
    if predictions is not None:
        body = rationales(folder, predictions, config, max_samples, files.problems)
        out.append(section("rationales", "Rationales", "raw.html", html=body))
    invalid = files.json("invalid.json")
    if invalid:
        out.append(section("invalid-samples", "Invalid samples", "value.html", obj={"skipped": invalid}, percent=False))
    return out


def _curves(files: RunFiles, metrics, expected: bool):
    history = files.json("history.json", expected=expected)
    if history is None and isinstance(metrics, dict):
        history = metrics.get("history")  # the rationale LM keeps it in metrics.json
        losses = metrics.get("loss")  # rationale pretrain: the mean loss of each epoch
        if history is None and isinstance(losses, list) and all(isinstance(v, int | float) for v in losses):
            history = [{"epoch": i + 1, "loss": v} for i, v in enumerate(losses)]
    if history is None:
        return None
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        files.problems.append(f"{files.folder / 'history.json'}: expected a list of per-epoch records")
        return None
    if not history:
        return None
    loss, score = history_series(history)
    return figures({"loss": loss, "score": score})
