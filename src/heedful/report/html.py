"""One HTML file per run: config, metrics tables, training curves, pictures and browsable rationale predictions.

Everything is inline (pictures as base64, curves as plotly figures with plotly.js embedded, or inline SVG when
plotly is not installed), so the file opens anywhere without network. A missing or corrupt file becomes a problem
line shown at the top of the page and returned to the caller; the rest of the report is still written.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from heedful.errors import InputError
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
MAX_PICTURES = 40


@dataclass
class ReportResult:
    path: Path
    problems: list[str] = field(default_factory=list)


@dataclass
class _Run:
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
    state = _Run(folder)
    config = state.json("config.json", expected=True)
    command = config.get("command") if isinstance(config, dict) else None
    if command is None and isinstance(config, dict) and "model" in config and (folder / "adapter.safetensors").exists():
        command = "rationale train"
    shown = f"<details><summary>config.json</summary>{_pre(config)}</details>" if config is not None else "unreadable"
    sections = [_section("Config", shown)]
    metrics = state.json("metrics.json", expected="metrics.json" in EXPECTED.get(command, ()))
    if metrics is not None:
        sections.append(_section("Metrics", _table(metrics)))
    for name in EXPECTED.get(command, ()):
        if name in ("items.json", "table.md") and not (folder / name).is_file():  # the others are read below
            state.problems.append(f"{folder / name}: missing")
    faithfulness = state.json("faithfulness.json")  # heedful process|rationale explain RUN --faithfulness
    if isinstance(faithfulness, dict):
        keys = ("units", "removal", "drop", "samples", "skipped_classes", "headline", "auc", "rank_agreement")
        keys += ("score_change",) if "score_change" in faithfulness else ()
        sections.append(_section("Faithfulness of attention", _table({k: faithfulness.get(k) for k in keys})))
    if command == "process compare":
        sections += _compare(state)
    curves = _curves(state, metrics, "history.json" in EXPECTED.get(command, ()))
    if curves:
        sections.append(_section("Training curves", curves))
    pictures = _pictures(folder, state.problems)
    if pictures:
        sections.append(_section("Pictures", pictures))
    predictions = state.json("predictions.json", expected="predictions.json" in EXPECTED.get(command, ()))
    if predictions is None and command == "rationale evaluate" and isinstance(config, dict):
        predictions = _evaluated_predictions(state, config)
    if predictions is not None:
        sections.append(_section("Rationales", _rationales(state, predictions, config, max_samples)))
    invalid = state.json("invalid.json")
    if invalid:
        sections.append(_section("Invalid samples", _table({"skipped": invalid})))
    page = _page(folder, command, sections, state.problems, uses_plotly="plotly-graph-div" in "".join(sections))
    atomic_write(target, lambda p: p.write_text(page, encoding="utf-8"))
    return ReportResult(target, state.problems)


# ------------------------------------------------------------------------------------------------- building blocks


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _section(title: str, body: str) -> str:
    slug = title.lower().replace(" ", "-")
    return f'<section id="{slug}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _pre(obj) -> str:
    return f"<pre>{_e(json.dumps(obj, indent=2, ensure_ascii=False))}</pre>"


def _scalar(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return _e("null" if v is None else v)


def _table(obj, depth: int = 0) -> str:
    """Nested dicts as nested tables; a list of dicts as one table with a column per key; scalars as text."""
    if isinstance(obj, dict) and depth < 4:
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_table(v, depth + 1)}</td></tr>" for k, v in obj.items())
        return f'<table class="kv">{rows}</table>'
    if isinstance(obj, list) and obj and all(isinstance(x, dict) for x in obj) and depth < 4:
        cols = list(dict.fromkeys(k for x in obj for k in x))
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{_table(x.get(c), depth + 1)}</td>" for c in cols) + "</tr>" for x in obj[:500]
        )
        more = f"<p>{len(obj) - 500} more rows not shown</p>" if len(obj) > 500 else ""
        return f'<table class="grid"><tr>{head}</tr>{body}</table>{more}'
    if isinstance(obj, list):
        return ", ".join(_scalar(x) if not isinstance(x, (dict, list)) else _e(json.dumps(x)) for x in obj[:200])
    if isinstance(obj, dict):
        return f"<code>{_e(json.dumps(obj, ensure_ascii=False))}</code>"
    return _scalar(obj)


# ------------------------------------------------------------------------------------------------- curves


def _history(state: _Run, metrics, expected: bool) -> list[dict] | None:
    history = state.json("history.json", expected=expected)
    if history is None and isinstance(metrics, dict):
        history = metrics.get("history")  # the rationale LM keeps it in metrics.json
    if history is None:
        return None
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        state.problems.append(f"{state.folder / 'history.json'}: expected a list of per-epoch records")
        return None
    return history


def _curves(state: _Run, metrics, expected: bool) -> str:
    history = _history(state, metrics, expected)
    if not history:
        return ""
    x_key = "epoch" if all("epoch" in h for h in history) else None
    xs = [h["epoch"] for h in history] if x_key else list(range(1, len(history) + 1))
    names = [
        k
        for k in dict.fromkeys(k for h in history for k in h)
        if k not in ("epoch", "step") and all(isinstance(h.get(k), (int, float)) for h in history)
    ]
    series = {n: (xs, [float(h[n]) for h in history]) for n in names}
    groups = {
        "loss": {n: v for n, v in series.items() if "loss" in n},
        "score": {n: v for n, v in series.items() if "loss" not in n},
    }
    return "".join(_figure(title, s) for title, s in groups.items() if s)


def _figure(title: str, series: dict[str, tuple[list, list[float]]]) -> str:
    """One figure, a line per named (x, y) series."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return _svg_figure(title, series)
    fig = go.Figure([go.Scatter(x=xs, y=ys, mode="lines+markers", name=n) for n, (xs, ys) in series.items()])
    fig.update_layout(title=title, xaxis_title="epoch", height=320, margin=dict(l=50, r=20, t=40, b=40))
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _svg_figure(title: str, series: dict[str, tuple[list, list[float]]]) -> str:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.legend()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return f'<div class="svg-figure">{svg[svg.index("<svg") :]}</div>'


def _compare(state: _Run) -> list[str]:
    """A compare run: one row per model (``models/NAME/metrics.json``), its table.md, and the models' curves."""
    rows, loss, score = [], {}, {}
    for path in sorted((state.folder / "models").glob("*/metrics.json")):
        name = path.parent.name
        metrics = state.json(path.relative_to(state.folder).as_posix())
        if isinstance(metrics, dict):
            rows.append({"model": name} | {k: v for k, v in metrics.items() if k != "model"})
        saved = path.parent / "checkpoint" / "state.json"
        history = (state.json(saved.relative_to(state.folder).as_posix()) or {}) if saved.exists() else {}
        for h_key, target in (("loss", loss), (None, score)):
            points = [h for h in history.get("history", []) if isinstance(h, dict)]
            key = h_key or next((k for k in (points[0] if points else {}) if k.startswith("val")), None)
            if key and all(isinstance(h.get(key), (int, float)) for h in points) and points:
                target[f"{name} {key}"] = ([h.get("epoch") for h in points], [float(h[key]) for h in points])
    out = [_section("Models", _table(rows))] if rows else []
    table = state.folder / "table.md"
    if table.is_file():
        out.append(_section("Table", f"<pre>{_e(table.read_text(encoding='utf-8'))}</pre>"))
    curves = "".join(_figure(t, s) for t, s in (("training loss", loss), ("validation", score)) if s)
    return out + ([_section("Training curves", curves)] if curves else [])


def _evaluated_predictions(state: _Run, config: dict):
    """The predictions file an evaluate run scored (its config names it)."""
    path = config.get("predictions")
    if not isinstance(path, str) or not Path(path).is_file():
        state.problems.append(f"predictions file named in the config not found: {path}")
        return None
    try:
        return read_json(path)
    except InputError as err:
        state.problems.append(str(err))
        return None


# ------------------------------------------------------------------------------------------------- pictures


def _pictures(folder: Path, problems: list[str]) -> str:
    pngs = sorted(p for p in folder.rglob("*.png") if len(p.relative_to(folder).parts) <= 3)[:MAX_PICTURES]
    out = []
    for p in pngs:
        data = p.read_bytes()
        if not _is_png(data):  # an empty, fake or truncated picture would embed as a broken image
            problems.append(f"{p}: not a readable PNG picture; left out")
            continue
        src = "data:image/png;base64," + base64.b64encode(data).decode()
        name = _e(p.relative_to(folder).as_posix())
        out.append(f'<figure><img src="{src}" alt="{name}"><figcaption>{name}</figcaption></figure>')
    return "".join(out)


def _is_png(data: bytes) -> bool:
    import io

    from PIL import Image, UnidentifiedImageError

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every pixel: verify() alone misses a truncated last chunk
        return True
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):  # what Pillow raises for damaged images
        return False


# ------------------------------------------------------------------------------------------------- rationales


def _references(state: _Run, config) -> dict:
    """Reference samples by id from the data the run names (the demo set when it names none)."""
    from heedful.rationale.data.loaders import demo_path, load_samples

    data = config.get("data") if isinstance(config, dict) else None
    path = data.get("data") if isinstance(data, dict) else data if isinstance(data, str) else None
    try:
        result = load_samples(path or demo_path(), skip_invalid=True)
    except (InputError, OSError) as err:
        state.problems.append(f"reference data: {err}")
        return {}
    return {s.sample_id: s for s in result.samples}


def _rationales(state: _Run, predictions, config, max_samples: int) -> str:
    from heedful.rationale.data.prompt import scoring_string
    from heedful.rationale.eval.metrics import meteor, rouge_l

    if not isinstance(predictions, list):
        state.problems.append(f"{state.folder / 'predictions.json'}: expected a JSON list of predictions")
        return "<p>unreadable</p>"
    refs = _references(state, config)
    items, scored = [], []
    for i, p in enumerate(predictions[:max_samples]):
        if not isinstance(p, dict) or not isinstance(p.get("text"), str):
            state.problems.append(f"{state.folder / 'predictions.json'}: prediction #{i} has no text")
            continue
        sample = refs.get(p.get("sample_id"))
        ref = scoring_string(sample.rationale) if sample is not None and sample.rationale is not None else None
        scores = {"rouge_l": rouge_l(p["text"], ref)["f"], "meteor": meteor(p["text"], ref)} if ref else {}
        if scores:
            scored.append(scores)
        items.append(_sample_html(p, sample, ref, scores, opened=not items))
    summary = ""
    if scored:
        mean = {k: sum(s[k] for s in scored) / len(scored) for k in ("rouge_l", "meteor")}
        summary = (
            f"<p>{len(scored)} scored against references: "
            f"mean ROUGE-L {mean['rouge_l']:.4f}, METEOR {mean['meteor']:.4f}</p>"
        )
    more = (
        f"<p>{len(predictions) - max_samples} more predictions not listed</p>" if len(predictions) > max_samples else ""
    )
    controls = (
        '<div class="controls"><input id="filter" type="search" placeholder="filter by id or text">'
        '<select id="sort"><option value="file">file order</option><option value="asc">ROUGE-L low → high</option>'
        '<option value="desc">ROUGE-L high → low</option></select> <span id="shown"></span></div>'
    )
    return f'{summary}{controls}<div id="samples">{"".join(items)}</div>{more}'


def _sample_html(p: dict, sample, ref: str | None, scores: dict, opened: bool = False) -> str:
    weights = (p.get("attention") or {}).get("utterances") if isinstance(p.get("attention"), dict) else None
    rows = []
    if sample is not None:
        top = max(weights) if weights else 0.0
        change = sample.emo_change
        for j, u in enumerate(sample.utterances):
            w = weights[j] if weights and j < len(weights) else None
            style = f' style="background: rgba(255, 140, 0, {0.85 * w / top:.3f})"' if w is not None and top > 0 else ""
            span = " change" if change.start_idx <= j <= change.end_idx else ""
            title = f' title="attention {w:.3f}"' if w is not None else ""
            rows.append(
                f'<li class="utt{span}"{style}{title}><b>{_e(u.speaker)}</b> '
                f'<span class="emo">[{_e(",".join(u.emotion))}]</span> {_e(u.text)}'
                + (f' <span class="w">{w:.2f}</span>' if w is not None else "")
                + "</li>"
            )
    dialogue = f'<ol class="dialogue">{"".join(rows)}</ol>' if rows else "<p>(dialogue not in the reference data)</p>"
    rouge = scores.get("rouge_l")
    score_text = " · ".join(f"{k} {v:.3f}" for k, v in scores.items())
    sid = _e(p.get("sample_id"))
    return (
        f'<details class="sample"{" open" if opened else ""} data-rouge="{rouge if rouge is not None else -1}" '
        f'data-text="{_e((p.get("sample_id") or "") + " " + p["text"] + " " + (ref or ""))}">'
        f"<summary><code>{sid}</code> {_e(score_text)} — {_e(p['text'][:80])}</summary>"
        f'<div class="pair">{dialogue}<dl><dt>reference</dt><dd>{_e(ref or "(none)")}</dd>'
        f"<dt>predicted</dt><dd>{_e(p['text'])}</dd></dl></div></details>"
    )


# ------------------------------------------------------------------------------------------------- page

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
pre { background: #f6f6f6; padding: .8em; overflow: auto; max-height: 28em; }
table { border-collapse: collapse; margin: .2em 0; } th, td { border: 1px solid #ddd; padding: .2em .5em;
 text-align: left; vertical-align: top; } table.kv > tbody > tr > th { background: #f3f3f3; }
.problems { background: #fff1f0; border: 1px solid #f5c2c0; padding: .5em 1em; }
figure { display: inline-block; margin: .5em; } figure img { max-width: 100%; max-height: 30em; }
.controls { margin: .5em 0; } .controls input { width: 20em; }
details.sample { border: 1px solid #ddd; margin: .3em 0; padding: .3em .6em; }
.pair { display: flex; gap: 2em; } .pair > * { flex: 1; } .dialogue { padding-left: 1.5em; }
.utt { padding: .1em .3em; } .utt.change { border-left: 3px solid #5470c6; } .emo { color: #777; }
.w { color: #555; font-size: .8em; } dt { font-weight: bold; margin-top: .4em; }
"""

JS = """
(function () {
  var box = document.getElementById('samples'); if (!box) return;
  var items = Array.prototype.slice.call(box.children), filter = document.getElementById('filter'),
      sort = document.getElementById('sort'), shown = document.getElementById('shown');
  function update() {
    var q = filter.value.toLowerCase(), order = items.slice(), n = 0;
    if (sort.value !== 'file') order.sort(function (a, b) {
      var d = parseFloat(a.dataset.rouge) - parseFloat(b.dataset.rouge); return sort.value === 'asc' ? d : -d; });
    order.forEach(function (el) {
      var hit = el.dataset.text.toLowerCase().indexOf(q) >= 0; el.style.display = hit ? '' : 'none';
      if (hit) n++; box.appendChild(el); });
    shown.textContent = n + ' of ' + items.length + ' shown';
  }
  filter.addEventListener('input', update); sort.addEventListener('change', update); update();
})();
"""


def _page(folder: Path, command: str | None, sections: list[str], problems: list[str], uses_plotly: bool) -> str:
    plotly_js = ""
    if uses_plotly:
        from plotly.offline import get_plotlyjs

        plotly_js = f"<script>{get_plotlyjs()}</script>"
    issues = ""
    if problems:
        issues = (
            '<div class="problems" id="problems"><b>Problems</b><ul>'
            + "".join(f"<li>{_e(p)}</li>" for p in problems)
            + "</ul></div>"
        )
    nav = " · ".join(f'<a href="#{s.split(chr(34))[1]}">{s.split("<h2>")[1].split("</h2>")[0]}</a>' for s in sections)
    title = f"heedful report: {folder.name}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{CSS}</style>{plotly_js}</head><body>"
        f"<h1>{_e(title)}</h1><p><code>{_e(folder)}</code> · {_e(command or 'run')}</p>"
        f"<nav>{nav}</nav>{issues}{''.join(sections)}<script>{JS}</script></body></html>\n"
    )
