"""``--report`` on the commands that write run folders: the report lands beside the run's files."""

import json

from heedful.cli import main

TEP = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--stride", "4", "--test-stride", "4"]


def _only_run(out):
    (run,) = out.iterdir()
    return run


def test_process_train_report_flag_writes_the_runs_report(tmp_path, capsys):
    argv = ["process", "train", "--model", "gru", *TEP, "--epochs", "1", "--hidden-size", "4", "--report"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    run = _only_run(tmp_path)
    page = (run / "report.html").read_text(encoding="utf-8")
    assert f"report: {run / 'report.html'}" in capsys.readouterr().out
    accuracy = json.loads((run / "metrics.json").read_text())["test"]["overall_accuracy"]
    assert f"<td>{100 * accuracy:.2f}%</td>" in page  # the metrics table is in it, accuracies in percent


def test_process_train_without_the_flag_writes_no_report(tmp_path):
    argv = ["process", "train", "--model", "gru", *TEP, "--epochs", "1", "--hidden-size", "4"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert not (_only_run(tmp_path) / "report.html").exists()


def test_rationale_predict_and_evaluate_report_flag(tmp_path):
    index_out, pred_out, eval_out = tmp_path / "i", tmp_path / "p", tmp_path / "e"
    assert main(["rationale", "index", "--encoder", "hash:64", "--split", "train", "--out", str(index_out)]) == 0
    index = _only_run(index_out)
    argv = ["rationale", "predict", "--method", "knn", "--index", str(index), "--split", "dev", "--report"]
    assert main([*argv, "--out", str(pred_out)]) == 0
    pred = _only_run(pred_out)
    first = json.loads((pred / "predictions.json").read_text())[0]
    assert first["sample_id"] in (pred / "report.html").read_text(encoding="utf-8")
    assert main(["rationale", "evaluate", str(pred), "--report", "--bootstrap", "0", "--out", str(eval_out)]) == 0
    assert (_only_run(eval_out) / "report.html").is_file()
