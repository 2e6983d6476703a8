"""heedful.viz: valid PNGs, layout that grows with heads, atomic writes, loud input checks."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from heedful.viz import attention_heatmap, attention_over_time

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TQ, TK, T = 6, 9, 40


def softmax_rows(*shape, seed=0):
    return torch.softmax(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def png_size(path):
    """(height, width) of a PNG, after checking the magic bytes."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.std() > 0  # not a blank canvas
    return image.shape[:2]


def test_viz_does_not_import_matplotlib_until_called():
    code = "import sys, heedful.viz; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_single_head_heatmap_from_a_tensor_with_grad(tmp_path):
    w = softmax_rows(TQ, TK).requires_grad_()
    out = attention_heatmap(w, tmp_path / "one.png", x_labels=[f"t{i}" for i in range(TK)], title="one head")
    assert out == tmp_path / "one.png"
    height, width = png_size(out)
    assert height > 100 and width > 100


def test_more_heads_make_a_wider_then_taller_image(tmp_path):
    one = png_size(attention_heatmap(softmax_rows(TQ, TK), tmp_path / "h1.png"))
    four = png_size(attention_heatmap(softmax_rows(4, TQ, TK), tmp_path / "h4.png"))
    six = png_size(attention_heatmap(softmax_rows(6, TQ, TK), tmp_path / "h6.png"))
    assert four[1] > 2 * one[1]
    assert six[0] > 1.5 * four[0]  # wrapped to a second row of panels
    assert six[1] == four[1]


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots save, kept for inspection (the PNG is still written)."""
    import heedful.viz

    figures = []
    save = heedful.viz.save_atomically

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(heedful.viz, "save_atomically", keep)
    return figures


def tick_texts(axis):
    return [t.get_text() for t in axis.get_ticklabels()]


def test_heatmap_accepts_numpy_windows_and_names(tmp_path, drawn):
    w = softmax_rows(2, TQ, TK).numpy()
    out = attention_heatmap(
        w,
        tmp_path / "sub" / "named.png",  # missing folders are created
        x_labels=[f"in{i}" for i in range(TK)],
        y_labels=[f"out{i}" for i in range(TQ)],
        windows=[(2, 5, "fault"), (7, 9, None)],
        head_names=["first", "second"],
        xlabel="sensor step",
        ylabel="decoder step",
    )
    png_size(out)
    (fig,) = drawn
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in panels] == ["first", "second"]
    assert panels[0].get_ylabel() == "decoder step" and panels[1].get_ylabel() == ""  # one y label per row
    assert all(ax.get_xlabel() == "sensor step" for ax in panels)
    for h, ax in enumerate(panels):
        np.testing.assert_array_equal(ax.images[0].get_array(), w[h])  # each panel shows its own head
        assert tick_texts(ax.xaxis) == [f"in{i}" for i in range(TK)]
        assert tick_texts(ax.yaxis) == [f"out{i}" for i in range(TQ)]
        spans = sorted((p.get_x(), p.get_x() + p.get_width()) for p in ax.patches)
        assert spans == [(1.5, 4.5), (6.5, 8.5)]  # input steps [2, 5) and [7, 9), cell edges at +-0.5
        assert [t.get_text() for t in ax.texts] == ["fault"]  # the unnamed window gets no label


def test_many_labels_are_thinned_but_accepted(tmp_path, drawn):
    png_size(attention_heatmap(softmax_rows(5, 200), tmp_path / "long.png", x_labels=[str(i) for i in range(200)]))
    (ax, *_) = drawn[0].axes
    shown = tick_texts(ax.xaxis)
    assert shown == [str(i) for i in range(0, 200, 5)]  # every 5th of 200: 40 labels, the most that stay readable
    assert [int(t) for t in ax.get_xticks()] == list(range(0, 200, 5))


def test_writes_are_atomic_and_overwrite(tmp_path):
    path = tmp_path / "w.png"
    attention_heatmap(softmax_rows(TQ, TK), path)
    first = path.read_bytes()
    attention_heatmap(softmax_rows(3, TQ, TK), path)
    assert path.read_bytes() != first
    assert [p.name for p in tmp_path.iterdir()] == ["w.png"]  # no temporary files left behind


def test_failed_plot_leaves_no_file(tmp_path):
    with pytest.raises(ValueError):
        attention_heatmap(np.full((TQ, TK), np.nan), tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "weights, kwargs, match",
    [
        (np.full((TQ, TK), np.nan), {}, "finite values, got 54 NaN/inf"),
        (np.where(np.eye(TQ, TK) > 0, np.inf, 0.0), {}, "finite values, got 6 NaN/inf"),
        (np.ones(TK) / TK, {}, r"expected shape \(Tq, Tk\) or \(H, Tq, Tk\), got 1 dims"),
        (np.ones((1, 2, TQ, TK)), {}, "got 4 dims"),
        (np.full((TQ, TK), 2.0), {}, r"in \[0, 1\], got range \[2, 2\]"),
        (None, {"x_labels": ["a"] * (TK - 1)}, f"x_labels: expected {TK} entries, got {TK - 1}"),
        (None, {"y_labels": ["a"] * (TQ + 1)}, f"y_labels: expected {TQ} entries, got {TQ + 1}"),
        (None, {"head_names": ["a", "b"]}, "head_names: expected 1 entries, got 2"),
        (None, {"windows": [(3, 2, "x")]}, rf"windows\[0\]: expected 0 <= start < end <= {TK}, got start=3, end=2"),
        (None, {"windows": [(0, 2, "ok"), (5, TK + 1, "x")]}, rf"windows\[1\].*end={TK + 1}"),
        (None, {"windows": [(1, 2)]}, r"windows\[0\]: expected \(start, end, label\)"),
    ],
)
def test_heatmap_rejects_bad_inputs(tmp_path, weights, kwargs, match):
    weights = softmax_rows(TQ, TK) if weights is None else weights
    with pytest.raises(ValueError, match=match):
        attention_heatmap(weights, tmp_path / "x.png", **kwargs)


def test_over_time_single_and_batched(tmp_path):
    single = png_size(attention_over_time(softmax_rows(T), tmp_path / "single.png", windows=[(10, 20, "fault")]))
    batched = png_size(attention_over_time(softmax_rows(3, T), tmp_path / "batch.png", sample_names=["a", "b", "c"]))
    assert single == batched  # same layout, lines instead of bars


def test_over_time_with_signal_adds_a_panel(tmp_path):
    t = np.arange(T)
    signal = torch.tensor(np.stack([np.sin(t / 5), np.cos(t / 3)], axis=1))
    without = png_size(attention_over_time(softmax_rows(T), tmp_path / "a.png"))
    with_signal = png_size(
        attention_over_time(
            softmax_rows(T), tmp_path / "b.png", signal=signal, windows=[(12, 20, "fault")],
            signal_names=["temperature", "pressure"], title="which steps mattered",
        )
    )  # fmt: skip
    assert with_signal[0] > 1.5 * without[0]
    png_size(attention_over_time(softmax_rows(T), tmp_path / "c.png", signal=np.sin(t)))  # (T,) signal


@pytest.mark.parametrize(
    "weights, kwargs, match",
    [
        (np.full(T, np.nan), {}, "finite values"),
        (np.ones((2, 3, T)) / T, {}, r"expected shape \(T,\) or \(B, T\), got 3 dims"),
        (None, {"signal": np.zeros((T - 1, 2))}, rf"signal: expected shape \({T},\) or \({T}, C\), got \({T - 1}, 2\)"),
        (None, {"signal": np.full((T, 2), np.inf)}, "signal: expected finite values"),
        (None, {"signal": np.zeros((T, 2)), "signal_names": ["a"]}, "signal_names: expected 2 entries, got 1"),
        (None, {"signal_names": ["a"]}, "signal_names: expected a signal"),
        (None, {"sample_names": ["a", "b"]}, "sample_names: expected 1 entries, got 2"),
        (None, {"windows": [(-1, 3, "x")]}, rf"windows\[0\]: expected 0 <= start < end <= {T}"),
    ],
)
def test_over_time_rejects_bad_inputs(tmp_path, weights, kwargs, match):
    weights = softmax_rows(T) if weights is None else weights
    with pytest.raises(ValueError, match=match):
        attention_over_time(weights, tmp_path / "x.png", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_chinese_labels_are_drawn_with_an_installed_cjk_font(tmp_path, monkeypatch):
    import warnings

    import heedful.viz as viz

    font = viz.cjk_font()
    if font is None:
        pytest.skip("no CJK font installed (fonts-noto-cjk)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font" for every box it draws
        path = attention_heatmap(softmax_rows(3, 4), tmp_path / "zh.png", x_labels=["温度", "压力", "流量", "液位"])
    png_size(path)
    fig = viz.new_figure(3, 2)
    latin, chinese = fig.text(0, 0, "temperature"), fig.text(0, 1, "温度 temperature")
    viz.use_cjk_font(fig)
    assert chinese.get_fontfamily()[-1] == font and font not in latin.get_fontfamily()


def test_without_a_cjk_font_one_warning_says_what_to_install(monkeypatch):
    import heedful.viz as viz

    monkeypatch.setattr(viz, "_cjk_font", [])
    monkeypatch.setattr(viz, "_find_cjk_font", lambda: None)
    fig = viz.new_figure(3, 2)
    fig.text(0, 0, "温度")
    with pytest.warns(UserWarning, match="install fonts-noto-cjk"):
        viz.use_cjk_font(fig)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        viz.use_cjk_font(fig)  # once per process
