"""Hostile input, round 4, the service: the JSON rules of the data files (a key given once, ids that are strings or
integers), and the CLI's refusal of values beyond float32, for a two-variable model as in the CLI's own case."""

import json

import numpy as np
import pytest
import torch

from .test_service import PREDICT, RATIONALE, _dialogue, refused


def test_a_key_given_twice_is_422_naming_it(client):
    body = json.dumps({"dialogues": [_dialogue()]}, ensure_ascii=False)
    twice = body.replace('"text": "你好。"', '"text": "你好。", "text": "再见。"', 1)  # the last would win
    answer = client.post(RATIONALE, content=twice.encode(), headers={"Content-Type": "application/json"})
    assert refused(answer, 422, "body")["error"] == "body: key 'text' appears twice in one object"
    nested = '{"windows": [[[1.0]]], "windows": [[[2.0]]]}'
    answer = client.post(PREDICT, content=nested, headers={"Content-Type": "application/json"})
    assert "key 'windows' appears twice" in refused(answer, 422, "body")["error"]


def test_malformed_json_is_still_the_apps_400(client):
    answer = client.post(RATIONALE, content=b'{"dialogues": [', headers={"Content-Type": "application/json"})
    assert refused(answer, 400, "body")["error"].startswith("malformed JSON")


@pytest.mark.parametrize("where", ["sample_id", "utt_id"])
def test_a_null_id_is_422_and_a_missing_one_is_fine(client, where):
    dialogue = _dialogue()
    target = dialogue if where == "sample_id" else dialogue["utterances"][0]
    target[where] = None
    refused(client.post(RATIONALE, json={"dialogues": [dialogue]}), 422, where)
    del target[where]
    assert client.post(RATIONALE, json={"dialogues": [dialogue]}).status_code == 200


@pytest.mark.parametrize(("where", "value"), [("sample_id", 7), ("utt_id", 12), ("sample_id", 7.0)])
def test_number_ids_are_422_naming_the_field(client, where, value):
    """Ids are strings: a number (as a bool before) would otherwise become another id ("7") without a word."""
    dialogue = _dialogue()
    (dialogue if where == "sample_id" else dialogue["utterances"][0])[where] = value
    answer = client.post(RATIONALE, json={"dialogues": [dialogue]})
    assert answer.status_code == 422 and where in json.dumps(answer.json())


@pytest.fixture(scope="module")
def two_variable_client():
    """A GRU on two variables and 6-step windows (the shape of the CLI's case), untrained."""
    from fastapi.testclient import TestClient

    from heedful.process.models import build_model
    from heedful.process.tasks.base import Split, TaskData
    from heedful.process.windows import Scaler
    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app
    from heedful.serve.models import ProcessModel

    x = np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32)
    split = Split(x, np.zeros((4, 6), np.int64), np.zeros(4, int), np.full(4, 6))
    scaler = Scaler(np.array([20.0, 1.0], np.float32), np.array([2.0, 0.1], np.float32))
    data = TaskData("pen_phase", "sequence_classification", split, split, split, ["a", "b"], ["temp", "p"], scaler, {})
    torch.manual_seed(0)
    pm = ProcessModel(data, build_model("gru", data, hidden_size=4).eval(), {"model": "gru"}, "two")
    with TestClient(create_app(ServeConfig(), [pm])) as c:
        yield c


@pytest.mark.parametrize("cell", [[1e308, 1.0], [1.0, -1e308], [3.5e38, 1.0]])
def test_values_beyond_float32_in_a_two_variable_window_are_422(two_variable_client, cell):
    ok = two_variable_client.post(PREDICT, json={"windows": [[[20.0, 1.0]] * 6]})
    assert ok.status_code == 200, ok.text
    body = refused(two_variable_client.post(PREDICT, json={"windows": [[cell] * 6]}), 422, "windows[0]")
    assert "float32" in body["error"]


def _csv(process_model, rows: int = 12) -> str:
    names = process_model.variables
    return ",".join(names) + "\n" + ("\n".join([",".join(["1.0"] * len(names))] * rows)) + "\n"


def test_json_nested_too_deeply_is_a_clear_400(client):
    """Before: "There was an error parsing the body"."""
    deep = b"[" * 100_000 + b"]" * 100_000
    answer = client.post(RATIONALE, content=deep, headers={"Content-Type": "application/json"})
    assert refused(answer, 400, "body")["error"] == "malformed JSON: nested too deeply"


def test_a_lone_surrogate_in_a_request_is_422_naming_where(client):
    body = json.dumps({"dialogues": [_dialogue()]}).replace('"text": "', '"text": "\\ud800', 1)
    answer = client.post(RATIONALE, content=body.encode(), headers={"Content-Type": "application/json"})
    assert "dialogues[0].utterances[0].text: a lone surrogate" in refused(answer, 422, "body")["error"]


@pytest.mark.parametrize("stride", ["%C2%B2", "9" * 5000])
def test_a_stride_of_odd_digits_in_the_query_is_422(client, process_model, stride):
    """Before: 500: "²".isdigit() is true but int() refuses it; int() refuses 5,000 digits."""
    headers = {"Content-Type": "text/csv"}
    answer = client.post(f"{PREDICT}?stride={stride}", content=_csv(process_model), headers=headers)
    refused(answer, 422, "stride")


def test_a_text_csv_body_that_is_not_utf8_is_422(client, process_model):
    """Before: its bytes were replaced by U+FFFD and the error spoke of a cell that is "not a number"."""
    body = _csv(process_model).encode().replace(b"1.0", b"\xff\xfe", 1)
    answer = client.post(PREDICT, content=body, headers={"Content-Type": "text/csv"})
    assert refused(answer, 422, "csv")["error"].startswith("csv: not UTF-8 text")


@pytest.mark.parametrize("as_json", [True, False])
def test_a_csv_with_a_byte_order_mark_reads_as_the_cli_reads_it(client, process_model, as_json):
    """Before: 422 "unknown columns ['\\ufeffXMEAS(1)']", where `predict --csv` reads the same file."""
    text = "\ufeff" + _csv(process_model)
    answer = (
        client.post(PREDICT, json={"csv": text})
        if as_json
        else client.post(PREDICT, content=text.encode(), headers={"Content-Type": "text/csv"})
    )
    assert answer.status_code == 200, answer.text
