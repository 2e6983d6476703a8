"""Training curves: one figure for the losses, one for the scores, epochs on an integer axis and accuracies in
percent. plotly (its JS is embedded once in the page) when installed, otherwise an inline matplotlib SVG."""

from __future__ import annotations

import io
import math

from markupsafe import Markup

from heedful.report.values import is_percent_key

Series = dict[str, tuple[list, list[float]]]  # name -> (epochs, values)


def history_series(history: list[dict]) -> tuple[Series, Series]:
    """(loss series, score series) of per-epoch records: every key numeric in all records but epoch / step."""
    xs = [h["epoch"] for h in history] if all("epoch" in h for h in history) else list(range(1, len(history) + 1))
    names = [
        k
        for k in dict.fromkeys(k for h in history for k in h)
        if k not in ("epoch", "step") and all(_number(h.get(k)) for h in history)
    ]
    series = {n: (xs, [float(h[n]) for h in history]) for n in names}
    loss = {n: v for n, v in series.items() if "loss" in n}
    return loss, {n: v for n, v in series.items() if "loss" not in n}


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def figures(groups: dict[str, Series]) -> Markup:
    return Markup("".join(figure(title, s) for title, s in groups.items() if s))


def figure(title: str, series: Series) -> Markup:
    """One figure, a line per named (x, y) series."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return svg_figure(title, series)
    percent = all(is_percent_key(n.split()[-1]) for n in series)
    fig = go.Figure([go.Scatter(x=xs, y=ys, mode="lines+markers", name=n) for n, (xs, ys) in series.items()])
    fig.update_layout(title=title, height=320, margin=dict(l=50, r=20, t=40, b=40))
    fig.update_xaxes(title="epoch", **_integer_ticks(series))
    if percent:
        fig.update_yaxes(tickformat=".0%")
    return Markup(fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))


def _integer_ticks(series: Series) -> dict:
    """Whole epochs only: a tick every 1, 2, 5, 10, ... epochs, about ten at most."""
    xs = [x for xs, _ in series.values() for x in xs if _number(x)]
    if not xs or any(float(x) != int(x) for x in xs):
        return {}
    span = max(xs) - min(xs)
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 10**9) if span / s <= 10)
    start = min(xs) if step == 1 else step * math.floor(min(xs) / step)
    return {"tickmode": "linear", "tick0": start, "dtick": step}


def svg_figure(title: str, series: Series) -> Markup:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    from heedful.viz import new_figure, use_cjk_font

    fig = new_figure(6, 3)
    ax = fig.add_subplot()
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if all(is_percent_key(n.split()[-1]) for n in series):
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend()
    use_cjk_font(fig)
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return Markup(f'<div class="svg-figure">{svg[svg.index("<svg") :]}</div>')
