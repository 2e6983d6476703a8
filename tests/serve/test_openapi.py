"""The OpenAPI page describes what the service answers (typed 200 bodies, not "string"), its examples are requests
the loaded models accept, and /redoc works without network."""

import re

import pytest

PREDICT, RATIONALE = "/v1/process/predict", "/v1/rationale"


def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_documented_200_answer_has_a_schema_with_properties(client):
    spec = client.get("/openapi.json").json()
    answers = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            content = op["responses"]["200"]["content"]["application/json"]
            schema = resolve(spec, content["schema"])
            assert schema.get("type") == "object" and schema.get("properties"), (method, path, schema)
            answers += 1
    assert answers == 3  # /health, process predict, rationale
    prediction = resolve(spec, spec["components"]["schemas"]["ProcessAnswer"]["properties"]["predictions"]["items"])
    assert {"class", "probabilities", "values", "attention"} <= set(prediction["properties"])


def documented_requests(spec: dict):
    """(content type, body) of every example the page offers for process predict."""
    content = spec["paths"][PREDICT]["post"]["requestBody"]["content"]
    for media in ("application/json", "text/csv"):
        for example in content[media].get("examples", {}).values():
            yield media, example["value"]


def test_the_documented_examples_are_answered_by_the_loaded_model(client, process_model):
    spec = client.get("/openapi.json").json()
    requests = list(documented_requests(spec))
    assert {m for m, _ in requests} == {"application/json", "text/csv"} and len(requests) == 3
    for media, body in requests:
        if media == "text/csv":
            answer = client.post(PREDICT, content=body, headers={"Content-Type": "text/csv"})
            assert body.splitlines()[0].split(",")[:2] == process_model.variables[:2]  # its own header
        else:
            answer = client.post(PREDICT, json=body)
        assert answer.status_code == 200, (media, body, answer.text)
        (prediction,) = answer.json()["predictions"]
        assert prediction["class"] in process_model.data.class_names
    (example,) = spec["components"]["schemas"]["RationaleRequest"]["examples"]
    answer = client.post(RATIONALE, json=example)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["sample_id"] == example["dialogues"][0]["sample_id"]


def test_with_several_process_models_each_example_names_its_model(process_model, knn_model, small_config):
    from fastapi.testclient import TestClient

    from heedful.serve.app import create_app
    from heedful.serve.models import ProcessModel

    other = ProcessModel(process_model.data, process_model.model, process_model.config, "other-run")
    with TestClient(create_app(small_config, [process_model, other], knn_model)) as c:
        spec = c.get("/openapi.json").json()
        bodies = [b for m, b in documented_requests(spec) if m == "application/json"]
        assert sorted({b["model"] for b in bodies}) == sorted([process_model.name, "other-run"])
        for body in bodies:
            answer = c.post(PREDICT, json=body)
            assert answer.status_code == 200 and answer.json()["model"] == body["model"], answer.text


def test_answers_keep_the_models_keys_and_add_no_nulls(client, process_model):
    import numpy as np

    scaler = process_model.data.scaler
    window = (process_model.test_split().x[0] * scaler.scale + scaler.mean).tolist()
    body = client.post(PREDICT, json={"windows": [window]}).json()
    assert set(body) == {"model", "task", "kind", "predictions"}
    (prediction,) = body["predictions"]
    assert set(prediction) == {"class", "probabilities", "attention"}
    direct = process_model.predict([np.asarray(window)])[0]
    assert prediction == direct  # the answer model changes nothing
    health = client.get("/health").json()
    assert set(health["rationale"]) == {"method", "index", "key", "encoder"}


@pytest.mark.parametrize("path", ["/redoc", "/docs"])
def test_doc_pages_load_their_scripts_from_the_service(client, path):
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # nothing from a CDN
    assert "fonts.googleapis" not in page.text
    for source in sources:
        if source.endswith(".js"):
            script = client.get(source)
            assert script.status_code == 200 and len(script.content) > 100_000  # the bundle itself
