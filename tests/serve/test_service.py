import asyncio
import json
import threading

import numpy as np
import pytest

from heedful.errors import InputError
from heedful.serve import ServeConfig
from heedful.serve.loadcheck import compare_process, compare_rationale, knn_bodies, process_bodies

PREDICT, RATIONALE = "/v1/process/predict", "/v1/rationale"


def refused(response, status, field=None, limit=None):
    """A 4xx JSON answer naming the field (and the limit), never a traceback."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    if field is not None:
        assert field in (body.get("field") or "") or field in body["error"], body
    if limit is not None:
        assert body.get("limit") == limit, body
    return body


def raw_windows(pm, n=2):
    return pm.data.scaler.inverse_transform(pm.test_split().x[:n].astype(np.float64))


def test_health_lists_what_is_loaded(client, process_model):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["auth"] is False
    (proc,) = body["process"]
    assert proc["task"] == "tep_faults" and proc["window_length"] == 10 and len(proc["variables"]) == 52
    assert proc["classes"] == ["normal", "fault 1", "fault 2"]
    assert body["rationale"]["method"] == "knn" and body["limits"]["max_windows"] == 4


def test_process_answers_equal_the_library_call(client, process_model):
    bodies, expected = process_bodies(process_model, n=3, per_request=2)
    for body, want in zip(bodies, expected, strict=True):
        answer = client.post(PREDICT, json=body).json()
        assert compare_process(answer, want, process_model) is None
        for p in answer["predictions"]:
            assert len(p["attention"]) == 10 and abs(sum(p["attention"]) - 1) < 1e-4
            assert abs(sum(p["probabilities"]) - 1) < 1e-4


def test_csv_in_json_and_as_a_text_csv_body(client, process_model):
    raw = np.concatenate(raw_windows(process_model, 2))  # 20 rows -> windows ending at 10, 13, 16, 19
    names = process_model.variables
    direct = client.post(PREDICT, json={"windows": [raw[e - 10 : e].tolist() for e in (10, 13, 16, 19)]}).json()
    text = "\n".join(",".join(repr(float(v)) for v in row) for row in raw)
    by_json = client.post(PREDICT, json={"csv": text, "stride": 3}).json()
    assert by_json["window_ends"] == [10, 13, 16, 19]
    calls = [p["class"] for p in direct["predictions"]]
    assert by_json["first_alarm"] == next(
        (e for e, c in zip((10, 13, 16, 19), calls, strict=True) if c != "normal"), None
    )
    assert by_json["predictions"] == direct["predictions"]
    order = list(reversed(range(len(names))))  # a header names the columns: any order
    shuffled = (
        ",".join(names[j] for j in order)
        + "\n"
        + "\n".join(",".join(repr(float(row[j])) for j in order) for row in raw)
    )
    by_csv = client.post(f"{PREDICT}?stride=3", content=shuffled, headers={"Content-Type": "text/csv"})
    assert by_csv.status_code == 200, by_csv.text
    assert by_csv.json()["predictions"] == direct["predictions"]


def _nan_body(pm):
    return json.dumps({"windows": [[[float("nan")] * 52] * 10]})  # Python writes the NaN literal


@pytest.mark.parametrize(
    ("body", "status", "field", "limit"),
    [
        ({"windows": [[[1.0] * 51] * 10]}, 422, "windows[0][0]", None),  # wrong variable count
        ({"windows": [[[1.0] * 52] * 9]}, 422, "windows[0]", 10),  # wrong window length
        ({"windows": [[[1.0] * 52] * 10] * 5}, 422, "windows", 4),  # over max_windows
        ({"windows": []}, 422, "windows", None),
        ({"windows": [[["1.0"] * 52] * 10]}, 422, "windows[0][0][0]", None),  # a string is not a number
        ({"windows": [[[1.0] * 52] * 10], "extra": 1}, 422, "extra", None),  # unknown field
        ({"windows": [[[1.0] * 52] * 10], "csv": "1"}, 422, "windows", None),  # both
        ({}, 422, "windows", None),
        ({"windows": [[[1.0] * 52] * 10], "model": "other"}, 422, "model", None),
        ({"csv": "1,2\n3,4"}, 422, "csv", None),  # two variables
        ({"csv": ",".join(["1"] * 52) + "\n" + ",".join(["x"] * 52)}, 422, "csv", None),
        ({"csv": "\n".join([",".join(["nan"] * 52)] * 10)}, 422, "csv", None),
        ({"csv": "a,b\n1,2"}, 422, "csv", None),  # header without the model's variables
        ({"csv": "\n".join([",".join(["1"] * 52)] * 20), "stride": 1}, 422, "stride", 4),  # 11 windows > 4
        ([1, 2], 422, "body", None),
    ],
)
def test_bad_process_requests_are_4xx_naming_the_field(client, body, status, field, limit):
    refused(client.post(PREDICT, json=body), status, field, limit)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(client, literal):
    row = ",".join(["1.0"] * 51 + [literal])
    content = '{"windows": [[' + ",".join([f"[{row}]"] * 10) + "]]}"
    refused(client.post(PREDICT, content=content, headers={"Content-Type": "application/json"}), 422, "windows[0]")


def test_malformed_json_and_oversized_bodies(client, small_config):
    refused(client.post(PREDICT, content=b'{"windows": [', headers={"Content-Type": "application/json"}), 400, "body")
    for junk in (b"[" * 50_000 + b"]" * 50_000, b'{"windows": "\xff"}'):  # too deep; not UTF-8
        refused(client.post(PREDICT, content=junk, headers={"Content-Type": "application/json"}), 400, "body")
    big = b"[" + b"1," * small_config.max_body_bytes + b"1]"
    refused(client.post(PREDICT, content=big, headers={"Content-Type": "application/json"}), 413, "body", 200_000)

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(30):
            yield b" " * 10_000

    refused(client.post(PREDICT, content=chunks(), headers={"Content-Type": "application/json"}), 413, "body")
    refused(client.get("/nowhere"), 404)
    refused(client.get(PREDICT), 405)


def test_rationale_answers_equal_predict_knn(client, knn_index, demo_split):
    dev = demo_split[1][:6]
    bodies, expected = knn_bodies(knn_index, dev)
    for body, want in zip(bodies, expected, strict=True):
        answer = client.post(RATIONALE, json=body | {"attention": True}).json()
        assert answer["method"] == "knn" and compare_rationale(answer, want) is None
        assert answer["predictions"][0]["attention"] is None  # knn has no attention
    several = {"dialogues": [b["dialogues"][0] for b in bodies[:3]]}
    answer = client.post(RATIONALE, json=several).json()
    assert [p["text"] for p in answer["predictions"]] == [e[0]["text"] for e in expected[:3]]


def _dialogue(n=3, text="你好。", **over):
    utts = [{"speaker": "AB"[i % 2], "text": text, "emotion": ["Neutral"]} for i in range(n)]
    utts[-1]["emotion"] = ["Anger"]
    return {"sample_id": "q", "utterances": utts} | over


@pytest.mark.parametrize(
    ("body", "field", "limit"),
    [
        ({"dialogues": [_dialogue()] * 4}, "dialogues", 3),
        ({"dialogues": []}, "dialogues", None),
        ({"dialogues": [_dialogue(13)]}, "dialogues[0].utterances", 12),
        ({"dialogues": [_dialogue(text="长" * 61)]}, "dialogues[0].utterances[0].text", 60),
        ({"dialogues": [_dialogue(mood=1)]}, "dialogues[0].mood", None),
        ({"dialogues": [_dialogue()], "k": 3}, "k", None),
        ({"dialogues": [_dialogue()], "attention": "yes"}, "attention", None),
        ({"dialogues": [{"utterances": [{"speaker": "A", "text": "x", "emotion": ["Bored"]}]}]}, "Bored", None),
        ({"dialogues": [{"utterances": []}]}, "empty", None),
        (
            {
                "dialogues": [
                    _dialogue(
                        emo_change={"start_idx": 0, "end_idx": 9, "from_emotion": ["Neutral"], "to_emotion": ["Anger"]}
                    )
                ]
            },
            "end_idx",
            None,
        ),
        ({"dialogues": [{"utterances": [{"speaker": "A", "text": 3, "emotion": ["Sad"]}]}]}, "text", None),
    ],
)
def test_bad_rationale_requests_are_4xx_naming_the_field(client, body, field, limit):
    refused(client.post(RATIONALE, json=body), 422, field, limit)


def test_bearer_token_guards_everything_but_health(process_model):
    from fastapi.testclient import TestClient

    from heedful.serve.app import create_app

    with TestClient(create_app(ServeConfig(), [process_model], None, token="s3cret")) as c:
        assert c.get("/health").status_code == 200
        for path in ("/docs", "/openapi.json"):
            refused(c.get(path), 401, "Authorization")
        body = {"windows": raw_windows(process_model, 1).tolist()}
        refused(c.post(PREDICT, json=body), 401)
        refused(c.post(PREDICT, json=body, headers={"Authorization": "Bearer wrong"}), 401)
        assert c.post(PREDICT, json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/docs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        refused(c.post(RATIONALE, json={"dialogues": [_dialogue()]}, headers={"Authorization": "Bearer s3cret"}), 404)


class Gated:
    """A rationale model whose calls wait for a gate; it records the batch sizes it was called with."""

    method = "fake"

    def __init__(self):
        self.gate, self.started, self.batches = threading.Event(), threading.Event(), []

    def describe(self):
        return {"method": "fake"}

    def predict(self, samples, options):
        self.started.set()
        self.gate.wait(10)
        self.batches.append(len(samples))
        if any(s.sample_id == "boom" for s in samples):
            raise RuntimeError("model failure")
        return [{"sample_id": s.sample_id, "text": s.utterances[0].text} for s in samples]


async def _post_all(app, bodies, gated, release_after=0.3):
    import httpx

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        first = asyncio.ensure_future(http.post(RATIONALE, json=bodies[0]))
        await asyncio.get_running_loop().run_in_executor(None, gated.started.wait, 5)
        rest = [asyncio.ensure_future(http.post(RATIONALE, json=b)) for b in bodies[1:]]
        await asyncio.sleep(release_after)
        gated.gate.set()
        return [await first] + [await r for r in rest]


def test_waiting_requests_are_batched_and_a_full_queue_is_503():
    from heedful.serve.app import create_app

    gated = Gated()
    app = create_app(ServeConfig(queue_size=3, batch_size=8, retry_after=2), [], gated)
    bodies = [{"dialogues": [_dialogue(sample_id=f"s{i}", text=f"第{i}句。")]} for i in range(5)]
    answers = asyncio.run(_post_all(app, bodies, gated))
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 4 and codes.count(503) == 1, codes  # one running, three queued, one refused
    busy = answers[codes.index(503)]
    assert busy.headers["Retry-After"] == "2" and busy.json()["limit"] == 3
    assert gated.batches == [1, 3]  # the three waiting requests went through the model together
    for a in answers:
        if a.status_code == 200:
            p = a.json()["predictions"][0]
            assert p["text"] == f"第{p['sample_id'][1:]}句。"  # each request got its own answer back


def test_a_failing_request_does_not_fail_its_batch_and_is_a_bare_500():
    from heedful.serve.app import create_app

    gated = Gated()
    app = create_app(ServeConfig(), [], gated)
    bodies = [{"dialogues": [_dialogue(sample_id=s)]} for s in ("a", "b", "boom", "c")]
    answers = asyncio.run(_post_all(app, bodies, gated))
    assert [a.status_code for a in answers] == [200, 200, 500, 200]
    assert answers[2].json() == {"error": "internal error", "field": None}


def test_binding_beyond_loopback_needs_a_flag():
    assert ServeConfig(host="::1").host == "::1"
    with pytest.raises(InputError, match="--allow-remote"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", allow_remote=True).allow_remote
    with pytest.raises(InputError, match="queue_size"):
        ServeConfig(queue_size=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to serve"),
        (["--method", "knn"], "needs --index"),
        (["--method", "lm"], "needs --model"),
        (["--index", "x"], "need --method"),
        (["--process", "/nonexistent/run"], "not a run folder"),
        (["--process", "RUN", "--host", "0.0.0.0"], "--allow-remote"),
        (["--process", "RUN", "--max-chars", "0"], "max_chars"),
    ],
)
def test_serve_cli_bad_input_is_one_line_exit_2(capsys, process_run, args, message):
    from heedful.cli import main

    args = [str(process_run) if a == "RUN" else a for a in args]
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_openapi_documents_both_body_types_and_the_error_body(client):
    spec = client.get("/openapi.json").json()
    predict = spec["paths"][PREDICT]["post"]
    assert set(predict["requestBody"]["content"]) == {"application/json", "text/csv"}
    for op in (predict, spec["paths"][RATIONALE]["post"]):
        assert {"400", "413", "422", "503"} <= set(op["responses"])
        assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
