"""Refusals uvicorn makes before the app runs (the HTTP parser's 400, its connection limit's 503) and an app failing
before it answers: JSON of the service's shape, from a real server on a free port, over raw sockets."""

import json
import socket
import time

import pytest

from .conftest import LiveServer


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` and read until the server closes: (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and b"content-length" in head.lower():
                length = next(int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")[1:])
                              if k.strip().lower() == b"content-length")  # fmt: skip
                if len(body) >= length:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def refused_json(answer, status: int) -> dict:
    code, headers, body = answer
    assert code == status, (code, body)
    assert headers["content-type"] == "application/json", headers
    payload = json.loads(body)
    assert set(payload) >= {"error", "field"} and isinstance(payload["error"], str), payload
    return payload


@pytest.fixture(scope="module")
def server():
    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app

    with LiveServer(create_app(ServeConfig())) as live:
        yield live


BAD_REQUESTS = {
    "content-length not a number": b"POST /v1/rationale HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "NUL byte in a header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Note: a\x00b\r\n\r\n",
    "two content lengths": b"POST /v1/rationale HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "not HTTP at all": b"HELLO THERE\r\n\r\n",
    "space before the colon": b"GET /health HTTP/1.1\r\nHost : x\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /health HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("raw", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_requests_the_http_parser_refuses_get_a_json_400(server, raw):
    body = refused_json(exchange(server.port, raw), 400)
    assert body["error"].startswith("malformed HTTP request: ") and body["field"] == "headers"


def test_headers_over_the_size_limit_get_a_json_431(server):
    raw = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000  # still unfinished past h11's 16 KiB
    refused_json(exchange(server.port, raw), 431)


def test_a_well_formed_request_still_works(server):
    code, _, body = exchange(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert code == 200 and json.loads(body)["status"] == "ok"


def test_connections_over_uvicorns_limit_get_a_json_503_with_retry_after():
    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app

    with LiveServer(create_app(ServeConfig()), ServeConfig(retry_after=7), limit_concurrency=2) as live:
        idle = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(2)]  # open, never a request
        try:
            time.sleep(0.3)  # accepted by the server
            answer = exchange(live.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            body = refused_json(answer, 503)
            assert answer[1]["retry-after"] == "7" and body["limit"] == 2
        finally:
            for s in idle:
                s.close()
        time.sleep(0.3)
        assert exchange(live.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0] == 200


def test_an_app_failing_before_it_answers_gets_a_json_500():
    async def broken(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        raise RuntimeError("bug")

    with LiveServer(broken) as live:
        body = refused_json(exchange(live.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 500)
    assert body == {"error": "internal error", "field": None}
