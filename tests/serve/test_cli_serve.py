"""`heedful serve` as a user starts it: a subprocess on a free loopback port, the token from the environment."""

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


@pytest.mark.slow  # about 10 s: a fresh interpreter imports the stack and loads the index
def test_serve_command_listens_on_loopback_with_the_env_token(knn_index, demo_split):
    from heedful.rationale.data.loaders import sample_to_dict

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, HEEDFUL_TOKEN="t0ken", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "heedful", "serve", "--method", "knn", "--index", str(knn_index), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                health = httpx.get(url + "/health", timeout=1.0)
                break
            except httpx.HTTPError:
                assert time.time() < deadline, "the service did not come up"
                time.sleep(0.2)
        assert health.json()["auth"] is True and health.json()["rationale"]["method"] == "knn"
        body = {"dialogues": [sample_to_dict(demo_split[1][0])]}
        assert httpx.post(url + "/v1/rationale", json=body).status_code == 401
        answer = httpx.post(url + "/v1/rationale", json=body, headers={"Authorization": "Bearer t0ken"})
        assert answer.status_code == 200 and answer.json()["predictions"][0]["text"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert f"serving rationale knn on http://127.0.0.1:{port}" in proc.stderr.read()
