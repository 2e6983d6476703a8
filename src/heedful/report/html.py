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
    for name in ("items.json", "table.md"):  # the other expected files are read below
        if name in expected and not (files.folder / name).is_file():
            files.problems.append(f"{files.folder / name}: missing")
    metrics = files.json("metrics.json", expected="metrics.json" in expected)
    out = [section("config", "Config", "config.html", config=config), *_metric_sections(metrics, config)]
    if command == "rationale index":
        out += [s for s in [index_section(files.folder, files.problems)] if s is not None]
    faithfulness = files.json("faithfulness.json")  # heedful process|rationale explain RUN --faithfulness
    if isinstance(faithfulness, dict):
        keys = FAITHFULNESS_KEYS + (("score_change",) if "score_change" in faithfulness else ())
        out.append(
            _values("faithfulness-of-attention", "Faithfulness of attention", {k: faithfulness.get(k) for k in keys})
        )
    if command == "process compare":
        out += compare_sections(files)
    curves = _curves(files, metrics, "history.json" in expected)
    if curves:
        out.append(section("training-curves", "Training curves", "raw.html", html=curves))
    found = pictures(files.folder, files.problems)
    if found:
        out.append(section("pictures", "Pictures", "pictures.html", pictures=found))
    out += _rationale_sections(files, config, command, max_samples)
    invalid = files.json("invalid.json")
    if invalid:
        out.append(_values("invalid-samples", "Invalid samples", {"skipped": invalid}))
    return out


def _values(slug: str, title: str, obj) -> Section:
    return section(slug, title, "value.html", obj=obj, percent=False)


def _metric_sections(metrics, config) -> list[Section]:
    """The metrics as tables; a confusion matrix among them gets its own section instead."""
    if metrics is None:
        return []
    matrix = find_confusion(metrics)
    if matrix is None:
        return [_values("metrics", "Metrics", metrics)]
    rest = metrics | {"test": {k: v for k, v in metrics["test"].items() if k != "confusion"}}
    table = confusion_table(matrix, labels(metrics, config, len(matrix)))
    return [
        _values("metrics", "Metrics", rest),
        section("confusion-matrix", "Confusion matrix (test)", "raw.html", html=table),
    ]


def _rationale_sections(files: RunFiles, config, command: str | None, max_samples: int) -> list[Section]:
    predictions = files.json("predictions.json", expected="predictions.json" in EXPECTED.get(command, ()))
    if predictions is None and command == "rationale evaluate" and isinstance(config, dict):
        predictions = evaluated_predictions(config, files.problems)
    if predictions is None:
        return []
    body = rationales(files.folder, predictions, config, max_samples, files.problems)
    return [section("rationales", "Rationales", "raw.html", html=body)]


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
