"""uvicorn's HTTP protocol with every refusal of its own in the service's JSON shape.

uvicorn answers some requests before the app sees them, in plain text: a request its HTTP parser (h11) refuses (a
``Content-Length: abc``, a NUL byte in a header, headers over the size limit) gets ``400 Invalid HTTP request
received.``, and a connection over ``limit_concurrency`` gets ``503 Service Unavailable`` without ``Retry-After``.
``json_protocol`` is the h11 protocol with those answers as JSON (``{"error", "field", "limit"}``, as the app's own
errors) and the 503 with ``Retry-After``; an app that fails before sending anything gets a JSON 500, not uvicorn's
plain-text one. ``server_config`` is the uvicorn configuration ``heedful serve`` runs with (the tests too).
"""

from __future__ import annotations

import json
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from heedful.serve.config import ServeConfig
from heedful.serve.inputs import problem_body

log = logging.getLogger("heedful.serve")


class _ReasonRecorder(h11.Connection):
    """An h11 connection that keeps why it refused the peer's bytes (uvicorn drops the reason)."""

    refused: h11.RemoteProtocolError | None = None

    def next_event(self):
        try:
            return super().next_event()
        except h11.RemoteProtocolError as err:
            self.refused = err
            raise


def _json_bytes(status: int, body: dict, extra: list[tuple[bytes, bytes]] = ()) -> tuple[list, bytes]:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    return [*headers, *extra], data


def json_protocol(retry_after: int) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``; ``retry_after``: seconds told to a refused client."""

    class JSONH11Protocol(H11Protocol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.conn = _ReasonRecorder(h11.SERVER, self.conn._max_incomplete_event_size)
            # uvicorn's own check would answer in plain text before any app runs: the app below answers instead
            self.connection_limit, self.limit_concurrency = self.limit_concurrency, None
            self.app = self._guarded(self.app)

        def _over_limit(self) -> bool:
            limit = self.connection_limit
            # counted as uvicorn counts them, less this connection and this request's own task (already added)
            return limit is not None and (len(self.connections) > limit or len(self.tasks) > limit)

        def _guarded(self, app):
            async def guarded(scope, receive, send):
                if scope["type"] == "http" and self._over_limit():
                    body = problem_body(f"over {self.connection_limit} connections; retry later", None)
                    extra = [(b"retry-after", str(retry_after).encode()), (b"connection", b"close")]
                    headers, data = _json_bytes(503, body | {"limit": self.connection_limit}, extra)
                    await send({"type": "http.response.start", "status": 503, "headers": headers})
                    return await send({"type": "http.response.body", "body": data})
                started = False

                async def watched(message):
                    nonlocal started
                    started = started or message["type"] == "http.response.start"
                    await send(message)

                try:
                    await app(scope, receive, watched)
                except Exception:
                    if started or scope["type"] != "http":
                        raise
                    log.exception("unexpected error on %s", scope.get("path"))
                    headers, data = _json_bytes(500, problem_body("internal error", None))
                    await send({"type": "http.response.start", "status": 500, "headers": headers})
                    await send({"type": "http.response.body", "body": data})

            return guarded

        def send_400_response(self, msg: str) -> None:
            err = self.conn.refused
            status = getattr(err, "error_status_hint", 400) if err is not None else 400
            reason = str(err) if err is not None and str(err) else msg.rstrip(".")
            body = problem_body(f"malformed HTTP request: {reason}", "headers")
            headers, data = _json_bytes(status, body, [(b"connection", b"close")])
            out = self.conn.send(h11.Response(status_code=status, headers=headers))  # as uvicorn writes its own
            out += self.conn.send(h11.Data(data=data)) + self.conn.send(h11.EndOfMessage())
            self.transport.write(out)
            self.transport.close()

    return JSONH11Protocol


def server_config(app, config: ServeConfig, **kw):
    """The ``uvicorn.Config`` of the service: the JSON protocol, and uvicorn's connection limit (counting idle
    keep-alive connections too) as a backstop above ``RequestLimit``'s limit on requests in progress."""
    import uvicorn

    settings = dict(host=config.host, port=config.port, log_level="warning", access_log=False)
    settings |= dict(limit_concurrency=2 * config.max_connections + 16, http=json_protocol(config.retry_after))
    return uvicorn.Config(app, **(settings | kw))
