"""One answer shape: ``heedful process predict --probabilities --attention`` gives, for the same run and the same
CSV, the rows the service gives (same keys, values within float tolerance), and ``--device cpu`` the same answer
as the default; the CUDA case runs only where a GPU is visible."""

import json

import numpy as np
import pytest
import torch

from heedful.cli import main

PREDICT = "/v1/process/predict"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def batch_csv(process_model, tmp_path_factory):
    """14 rows of raw test values with a header: 5 windows of 10 steps."""
    test = process_model.test_split()
    raw = process_model.data.scaler.inverse_transform(test.x[[0, -1]].astype(np.float64)).reshape(-1, 52)[:14]
    text = ",".join(process_model.variables) + "\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in raw)
    path = tmp_path_factory.mktemp("batch") / "batch.csv"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def served(process_model, batch_csv):
    from fastapi.testclient import TestClient

    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app

    with TestClient(create_app(ServeConfig(), [process_model])) as c:
        response = c.post(PREDICT, json={"csv": batch_csv.read_text()})
    assert response.status_code == 200, response.text
    return response.json()


def predicted(capsys, run, csv, *flags) -> dict:
    """The JSON answer: the last line of stdout (any effective-config block comes first)."""
    capsys.readouterr()
    assert main(["process", "predict", str(run), "--csv", str(csv), *flags]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def same_rows(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert set(a) == set(b)
        assert a["class"] == b["class"]
        for key in ("probabilities", "attention"):
            if key in b:
                assert np.allclose(a[key], b[key], atol=2e-6), key


def test_cli_rows_equal_the_service_answer(capsys, tmp_path, process_run, batch_csv, served):
    out = tmp_path / "answer.json"
    cli = predicted(capsys, process_run, batch_csv, "--probabilities", "--attention")
    assert main(["process", "predict", str(process_run), "--csv", str(batch_csv), "--probabilities", "--attention",
                 "--out", str(out)]) == 0  # fmt: skip
    assert json.loads(out.read_text()) == cli  # stdout without --out is the whole answer, as written with it
    assert set(served) <= set(cli) and set(cli) - set(served) <= {"two_stage", "two_stage_predictions"}
    assert served["window_ends"] == cli["window_ends"] == [10, 11, 12, 13, 14]
    for key in ("model", "task", "kind", "first_alarm"):
        assert cli[key] == served[key], key
    same_rows(cli["predictions"], served["predictions"])
    for row in cli["predictions"]:
        assert len(row["attention"]) == 10 and abs(sum(row["probabilities"]) - 1) < 1e-5


def test_each_flag_adds_its_part(capsys, process_run, batch_csv, served):
    plain = predicted(capsys, process_run, batch_csv)  # the compact answer, the alarm under the service's name
    assert "first_alarm" in plain and "first_alarm_step" not in plain
    assert plain["first_alarm"] == served["first_alarm"]
    calls = [r["class"] for r in served["predictions"]]
    assert plain["windows"] == {c: calls.count(c) for c in set(calls)}
    only = predicted(capsys, process_run, batch_csv, "--probabilities")
    assert all(set(r) == {"class", "probabilities"} for r in only["predictions"])
    attention = predicted(capsys, process_run, batch_csv, "--attention")
    assert all(set(r) == {"class", "attention"} for r in attention["predictions"])


def test_device_cpu_gives_the_default_answer(capsys, process_run, batch_csv):
    flags = ("--probabilities", "--attention")
    default = predicted(capsys, process_run, batch_csv, *flags)
    assert predicted(capsys, process_run, batch_csv, *flags, "--device", "cpu") == default


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["predict", "explain"])
def test_device_cuda_without_cuda_is_one_line(capsys, process_run, batch_csv, command):
    capsys.readouterr()
    assert main(["process", command, str(process_run), "--csv", str(batch_csv), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA is not available" in err and "\n" not in err and "Traceback" not in err


@cuda
def test_cuda_answers_equal_the_cpu_answers(capsys, process_run, batch_csv):
    flags = ("--probabilities", "--attention")
    on_cpu = predicted(capsys, process_run, batch_csv, *flags, "--device", "cpu")
    on_gpu = predicted(capsys, process_run, batch_csv, *flags, "--device", "cuda")
    same_rows(on_gpu["predictions"], on_cpu["predictions"])


@cuda
def test_the_service_on_cuda_answers_as_on_cpu(process_run, batch_csv, served):
    from fastapi.testclient import TestClient

    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app
    from heedful.serve.models import ProcessModel

    pm = ProcessModel.load(process_run, "cuda")
    with TestClient(create_app(ServeConfig(), [pm])) as c:
        answer = c.post(PREDICT, json={"csv": batch_csv.read_text()}).json()
    same_rows(answer["predictions"], served["predictions"])


def test_serve_device_flag_places_the_models(process_run):
    from heedful.cli import build_parser
    from heedful.cli.flags import config_from_args
    from heedful.cli.serve import load_models
    from heedful.devices import model_device
    from heedful.serve import ServeConfig

    args = build_parser().parse_args(["serve", "--process", str(process_run), "--device", "cpu"])
    config = config_from_args(ServeConfig, args)
    (pm,), rationale = load_models(args, config.device)
    assert config.device == "cpu" and model_device(pm.model).type == "cpu" and rationale is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_serve_on_cuda_without_cuda_is_one_line(process_run, capsys):
    capsys.readouterr()
    assert main(["serve", "--process", str(process_run), "--device", "cuda", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA is not available" in err and "\n" not in err


@pytest.mark.parametrize(
    ("task", "params", "length"),
    [
        ("tep_faults", {"window": 10}, 10),
        ("tep_sim_faults", {"window": 8}, 8),  # was served as any length: one window of the whole CSV
        ("pen_faults", {"window": 6}, 6),
        ("pen_forecast", {"history": 12}, 12),
        ("table", {"window": 5}, 5),
        ("table", {"window": 0}, None),
        ("pen_quality", {"every": 12}, None),
    ],
)
def test_each_task_says_the_window_length_the_service_cuts(task, params, length):
    from types import SimpleNamespace

    from heedful.process.tasks import get_task

    assert get_task(task).window_length(SimpleNamespace(params=params)) == length
