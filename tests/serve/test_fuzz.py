"""Arbitrary JSON, and arbitrary edits of valid bodies, never get a 5xx: a JSON 4xx naming a field, or an answer."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(response):
    assert response.status_code < 500, response.text
    body = response.json()
    assert response.status_code == 200 or (isinstance(body["error"], str) and "Traceback" not in response.text)


@SETTINGS
@given(body=json_values, path=st.sampled_from(["/v1/process/predict", "/v1/rationale"]))
def test_arbitrary_json_is_never_a_5xx(client, body, path):
    check(client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"}))


def _valid_dialogue():
    return {
        "sample_id": "q",
        "utterances": [
            {"speaker": "A", "text": "你好。", "emotion": ["Neutral"]},
            {"speaker": "B", "text": "走开！", "emotion": ["Anger"]},
            {"speaker": "A", "text": "你怎么这样？", "emotion": ["Sad"]},
        ],
    }


@SETTINGS
@given(
    where=st.sampled_from(
        ["sample_id", "speaker", "text", "emotion", "emo_change", "utt_id", "start_sec", "video_path"]
    ),
    value=json_values,
)
def test_edited_dialogues_are_never_a_5xx(client, where, value):
    d = _valid_dialogue()
    if where in ("sample_id", "emo_change", "video_path"):
        d[where] = value
    else:
        d["utterances"][1][where] = value
    content = json.dumps({"dialogues": [d]})  # json.dumps writes NaN / Infinity literals, as a sloppy client would
    check(client.post("/v1/rationale", content=content, headers={"Content-Type": "application/json"}))


@SETTINGS
@given(step=st.integers(0, 9), var=st.integers(0, 51), value=json_values)
def test_edited_windows_are_never_a_5xx(client, process_model, step, var, value):
    import numpy as np

    x = process_model.data.scaler.inverse_transform(process_model.test_split().x[0].astype(np.float64))
    window = x.tolist()
    window[step][var] = value
    check(
        client.post(
            "/v1/process/predict",
            content=json.dumps({"windows": [window]}),
            headers={"Content-Type": "application/json"},
        )
    )
