import html
import json
import re

import numpy as np
import pytest

from heedful.cli import main
from heedful.report import write_report


def png(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    fig.savefig(path)
    plt.close(fig)


@pytest.fixture
def train_run(tmp_path):
    run = tmp_path / "process-tep_faults-gru-1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"command": "process train", "task": "tep_faults", "model": "gru"}))
    metrics = {"model": "gru", "test": {"overall_accuracy": 0.91234, "per_fault_accuracy": {"1": 0.98, "2": 0.5}}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    history = [{"epoch": e, "train_loss": 1 / e, "val_accuracy": 0.5 + e / 10} for e in (1, 2, 3)]
    (run / "history.json").write_text(json.dumps(history))
    png(run / "explain_fault1.png")
    return run


def self_contained(text: str) -> bool:
    """Nothing fetched from elsewhere: no src/href to another address, no CSS import (outside the inline scripts,
    whose strings, e.g. plotly's map tiles, are never used here)."""
    text = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    return (
        "<script src" not in text
        and not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", text)
        and "@import" not in text
    )


def test_train_run_report_holds_config_metrics_curves_and_pictures(train_run):
    result = write_report(train_run)
    assert result.problems == [] and result.path == train_run / "report.html"
    text = result.path.read_text()
    assert '"task": "tep_faults"' in html.unescape(text)
    assert "per_fault_accuracy" in text and "91.23%" in text and "0.9123" not in text  # accuracies in percent
    assert "<td>98.00%</td>" in text  # a per-fault accuracy below its accuracy key
    assert text.count('class="plotly-graph-div"') == 2  # a loss figure and a score figure
    assert "data:image/png;base64," in text and "explain_fault1.png" in text
    assert self_contained(text)


def test_without_plotly_the_curves_are_inline_svg(train_run, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)  # import fails
    text = write_report(train_run).path.read_text()
    assert "plotly-graph-div" not in text and text.count("<svg") >= 2 and len(text) < 500_000


def predictions_run(tmp_path, samples, attention=True):
    from heedful.rationale.data.prompt import scoring_string

    run = tmp_path / "rationale-predict-1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"command": "rationale predict", "data": {"data": None}}))
    preds = []
    for i, s in enumerate(samples):
        entry = {"sample_id": s.sample_id, "text": scoring_string(samples[(i + 1) % len(samples)].rationale)}
        if attention:
            w = np.arange(1, len(s.utterances) + 1, dtype=float)
            entry["attention"] = {"utterances": (w / w.sum()).round(4).tolist(), "latent_share": 0.1}
        preds.append(entry)
    (run / "predictions.json").write_text(json.dumps(preds, ensure_ascii=False))
    return run


def test_rationale_report_lists_dialogues_with_attention_and_scores(tmp_path):
    from heedful.rationale.data.loaders import load_demo
    from heedful.rationale.eval.metrics import rouge_l

    samples = load_demo()[:4]
    run = predictions_run(tmp_path, samples)
    text = write_report(run).path.read_text()
    assert (
        text.count('class="sample"') == 4 and text.count('<details class="sample" open') == 1 and 'id="filter"' in text
    )
    first = samples[0]
    assert first.utterances[0].text in text
    assert text.count("background: rgba(255, 140, 0,") == sum(len(s.utterances) for s in samples)
    from heedful.rationale.data.prompt import scoring_string

    expected = rouge_l(scoring_string(samples[1].rationale), scoring_string(first.rationale))["f"]
    assert f"rouge_l {expected:.3f}" in text
    assert self_contained(text)


def test_not_a_run_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a run folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "report.html").exists()
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_corrupt_or_missing_files_exit_2_but_the_rest_is_written(train_run, capsys):
    (train_run / "metrics.json").write_text("{not json")
    (train_run / "history.json").unlink()
    assert main(["report", str(train_run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "metrics.json: malformed JSON" in err and "history.json: missing" in err
    text = (train_run / "report.html").read_text()
    assert 'id="problems"' in text and "data:image/png;base64," in text and '"model": "gru"' in html.unescape(text)


def test_report_cli_writes_where_asked(train_run, tmp_path, capsys):
    out = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(train_run), "--out", str(out)]) == 0
    assert out.is_file() and f"report: {out}" in capsys.readouterr().out


def test_compare_run_report_has_a_row_and_curves_per_model(tmp_path):
    run = tmp_path / "process-compare-tep_faults-1"
    (run / "models").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"command": "process compare", "models": ["gru", "logistic"]}))
    (run / "table.md").write_text("| model | acc |\n|---|---|\n| gru | 0.9 |\n")
    png(run / "comparison.png")
    for name, acc in (("gru", 0.9), ("logistic", 0.8)):
        (run / "models" / name).mkdir()
        (run / "models" / name / "metrics.json").write_text(json.dumps({"model": name, "test": {"acc": acc}}))
    (run / "models" / "gru" / "checkpoint").mkdir()
    history = [{"epoch": e, "loss": 1 / e, "val_accuracy": 0.5 + e / 10} for e in (1, 2)]
    (run / "models" / "gru" / "checkpoint" / "state.json").write_text(json.dumps({"history": history}))
    result = write_report(run)
    text = result.path.read_text()
    assert result.problems == []
    assert 'id="models"' in text and "logistic" in text
    assert "<td>gru</td>" in text and "| gru |" not in text  # table.md as an HTML table, not markdown text
    assert text.count('class="plotly-graph-div"') == 2 and "gru val_accuracy" in text


def test_evaluate_run_lists_the_predictions_it_scored(tmp_path):
    from heedful.rationale.data.loaders import load_demo

    pred_run = predictions_run(tmp_path, load_demo()[:3], attention=False)
    run = tmp_path / "rationale-evaluate-1"
    run.mkdir()
    config = {"command": "rationale evaluate", "predictions": str(pred_run / "predictions.json"), "data": None}
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.json").write_text(json.dumps({"meteor": 0.3, "rouge_l": 0.25, "bleu4": 0.07, "n": 3}))
    result = write_report(run)
    text = result.path.read_text()
    assert result.problems == [] and text.count('class="sample"') == 3 and "rouge_l 0." in text
    assert "background: rgba" not in text  # no attention in these predictions: no shading


PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_markup_in_any_run_file_is_shown_as_text(tmp_path):
    from heedful.rationale.data.loaders import load_demo

    samples = load_demo()[:2]
    run = predictions_run(tmp_path, samples)
    preds = json.loads((run / "predictions.json").read_text())
    preds[0]["text"] = PAYLOAD
    preds[1]["sample_id"] = PAYLOAD
    (run / "predictions.json").write_text(json.dumps(preds))
    (run / "config.json").write_text(json.dumps({"command": "rationale predict", "note": PAYLOAD, "data": None}))
    (run / "metrics.json").write_text(json.dumps({PAYLOAD: {"accuracy": PAYLOAD}, "list": [PAYLOAD]}))
    (run / "table.md").write_text(f"| a | b |\n|---|---|\n| {PAYLOAD} | 1 |\n")
    png(run / f"{PAYLOAD.replace('/', '_')}.png")
    (run / "invalid.json").write_text(json.dumps([PAYLOAD]))
    text = write_report(run).path.read_text()
    assert "<script>alert" not in text and "<img src=x" not in text and "onerror=alert(1)>" not in text
    assert text.count("&lt;script&gt;alert(") >= 5  # config, metrics key and value, prediction, id, invalid


def test_classification_run_shows_its_confusion_matrix(train_run):
    metrics = json.loads((train_run / "metrics.json").read_text())
    metrics["test"]["confusion"] = [[8, 2, 0], [1, 9, 0], [0, 5, 5]]
    (train_run / "metrics.json").write_text(json.dumps(metrics))
    config = json.loads((train_run / "config.json").read_text())
    (train_run / "config.json").write_text(json.dumps(config | {"task_params": {"faults": [0, 1, 2]}}))
    text = write_report(train_run).path.read_text()
    section = text.split('id="confusion-matrix"')[1].split("</section>")[0]
    assert "<th>normal</th>" in section and "<th>2</th>" in section
    assert "90.00%" in section and "50.00%" in section  # the recall of classes 1 and 2 on the diagonal
    assert "[[8, 2, 0]" not in text  # shown as the table, not again as a raw list among the metrics


def test_epoch_axes_have_whole_epoch_ticks_and_accuracy_axes_percentages(train_run):
    from heedful.report.curves import _integer_ticks

    text = write_report(train_run).path.read_text()
    assert '"dtick":1' in text and '"tickmode":"linear"' in text and '"tickformat":".0%"' in text
    many = {"loss": (list(range(1, 41)), [0.0] * 40)}
    assert _integer_ticks(many)["dtick"] == 5
    assert _integer_ticks({"loss": ([0.5, 1.0], [0.0, 0.0])}) == {}  # fractional epochs: plotly's own ticks


def test_index_run_report_shows_the_index_and_neighbours(tmp_path):
    out = tmp_path / "i"
    assert main(["rationale", "index", "--encoder", "hash:64", "--split", "train", "--out", str(out)]) == 0
    (run,) = out.iterdir()
    items = json.loads((run / "items.json").read_text())
    result = write_report(run)
    text = html.unescape(result.path.read_text())
    assert result.problems == []
    section = text.split('id="index"')[1].split("</section>")[0]
    assert f"<th>samples</th><td>{len(items)}</td>" in section and "<th>encoder</th><td>hash:64</td>" in section
    assert section.count('class="neighbour"') == 9  # three samples, three neighbours each
    first = next(iter(items))
    assert f"<code>{first}</code>" in section


def test_pretrain_run_report_draws_its_loss_per_epoch(tmp_path):
    run = tmp_path / "rationale-pretrain-1"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"command": "rationale pretrain"}))
    metrics = {"loss": [3.0, 2.5, 2.1], "after": {"recall@1": 0.25, "n": 8}, "before": None}
    (run / "metrics.json").write_text(json.dumps(metrics))
    text = write_report(run).path.read_text()
    assert text.count('class="plotly-graph-div"') == 1 and "25.00%" in text


def test_report_css_names_cjk_fonts_before_the_generic_family():
    from importlib.resources import files

    css = (files("heedful.report") / "templates" / "report.css").read_text()
    body = css.split("body {")[1].split("}")[0]
    assert body.index('"Noto Sans CJK SC"') < body.index("sans-serif;") and '"Microsoft YaHei"' in body
