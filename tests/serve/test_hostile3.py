"""Hostile input, round 3 (issue 20), the service: 422 naming the field where the CLI says one line, never 500 or a
meaningless 200."""

import pytest

from .test_service import PREDICT, RATIONALE, _dialogue, refused


def test_a_ragged_csv_body_is_422(client, process_model):
    names = process_model.variables
    rows = [",".join(names)] + [",".join(["1.0"] * len(names))] * 12 + [",".join(["1.0"] * 3)]
    refused(client.post(PREDICT, json={"csv": "\n".join(rows)}), 422, "csv")
    answer = client.post(PREDICT, content="\n".join(rows), headers={"Content-Type": "text/csv"})
    refused(answer, 422, "csv")


@pytest.mark.parametrize("value", [1e308, -1e308, 3.5e38])
def test_values_beyond_float32_are_422_as_in_the_cli(client, value):
    window = [[value] + [1.0] * 51] * 10
    body = refused(client.post(PREDICT, json={"windows": [window]}), 422, "windows[0]")
    assert "float32" in body["error"]
    csv = "\n".join([",".join([repr(value)] + ["1.0"] * 51)] * 10)
    refused(client.post(PREDICT, json={"csv": csv}), 422, "csv")


def test_values_that_overflow_once_scaled_are_clipped_by_tep(client):
    """Within float32 but inf once scaled: TEP clips at ±clip as in training, so a valid, finite answer."""
    answer = client.post(PREDICT, json={"windows": [[[3.4e38] * 52] * 10]})
    assert answer.status_code == 200, answer.text
    assert "NaN" not in answer.text and "Infinity" not in answer.text


@pytest.mark.parametrize("where", ["sample_id", "utt_id"])
@pytest.mark.parametrize("value", [True, False, 1.5])
def test_ids_are_strings_or_integers_never_bools(client, where, value):
    dialogue = _dialogue()
    if where == "sample_id":
        dialogue["sample_id"] = value
    else:
        dialogue["utterances"][0]["utt_id"] = value
    refused(client.post(RATIONALE, json={"dialogues": [dialogue]}), 422, where)


def test_requests_over_the_limit_get_the_json_503_with_retry_after():
    import asyncio
    import json

    from heedful.serve.middleware import RequestLimit

    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def call(app):
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        await app({"type": "http", "path": "/v1/rationale", "headers": []}, receive, send)
        return sent

    async def scenario():
        app = RequestLimit(slow_app, limit=1, retry_after=3)
        first = asyncio.create_task(call(app))
        await asyncio.sleep(0)
        refused = await call(app)
        release.set()
        return await first, refused

    first, refused = asyncio.run(scenario())
    assert first[0]["status"] == 200
    start, body = refused[0], refused[1]
    assert start["status"] == 503 and (b"retry-after", b"3") in start["headers"]
    assert json.loads(body["body"]) == {"error": "over 1 requests in progress; retry later", "field": None, "limit": 1}
