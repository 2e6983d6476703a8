"""ASGI middleware of the service: the limit on requests in progress, the body-size limit (also turning a text/csv
body into JSON and refusing a JSON object with a key twice) and the bearer token. All are plain ASGI callables in
front of the FastAPI app."""

from __future__ import annotations

import hmac
import json

from fastapi.responses import JSONResponse

from heedful.serve.inputs import problem_body

OPEN_PATHS = ("/health",)
CSV_PATH = "/v1/process/predict"


def _json_response(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 before any parsing (declared or streamed without a length).

    A ``text/csv`` body sent to the process endpoint is handed on as the JSON ``{"csv": text}`` (with ``model``
    and ``stride`` from the query string), so that one schema validates both forms. Any other body with a JSON
    object holding a key twice, or a lone surrogate, is 422 naming it, as a data file with one is refused."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message], receive), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._refuse(scope, receive, send)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if scope["path"] == CSV_PATH and _content_type(scope) == b"text/csv":
            try:
                scope, body = _csv_as_json(scope, body)
            except UnicodeDecodeError as err:
                problem = problem_body(f"csv: not UTF-8 text (byte {err.start})", "csv")
                return await _json_response(422, problem)(scope, receive, send)
        elif (problem := _json_problem(body)) is not None:
            return await _json_response(problem[0], problem_body(problem[1], "body"))(scope, receive, send)
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)

    async def _refuse(self, scope, receive, send):
        body = problem_body(f"request body over {self.limit} bytes", "body", self.limit)
        await _json_response(413, body, {"Connection": "close"})(scope, receive, send)


def _json_problem(body: bytes) -> tuple[int, str] | None:
    """(status, why) a JSON body is refused by the data files' rules (``heedful.runs``: a key twice in one object,
    a lone surrogate no UTF-8 answer could hold, nesting too deep to read), or None; a body that is not JSON at all
    is left to the app, which says how it is malformed."""
    from heedful.errors import InputError
    from heedful.runs import DuplicateKey, check_unicode, unique_keys

    try:
        check_unicode(json.loads(body, object_pairs_hook=unique_keys), "body")
    except DuplicateKey as err:
        return 422, f"body: {err}"
    except InputError as err:
        return 422, str(err)
    except RecursionError:
        return 400, "malformed JSON: nested too deeply"
    except ValueError:  # malformed JSON, bad UTF-8, numbers too long: the app's 400 / 422 says so
        return None
    return None


def _content_type(scope) -> bytes:
    return dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()


def _csv_as_json(scope, body: bytes):
    from urllib.parse import parse_qsl

    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    obj = {"csv": body.decode("utf-8-sig")} | {k: v for k, v in query.items() if k == "model"}
    if "stride" in query:  # ASCII digits only ("²".isdigit() is true), few enough for int(): else the schema's 422
        stride = query["stride"]
        obj["stride"] = int(stride) if stride.isascii() and stride.isdigit() and len(stride) < 19 else stride
    data = json.dumps(obj).encode()
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
    headers += [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    return dict(scope, headers=headers), data


def _replay(messages, receive):
    """Hand out the buffered body, then the real channel (a streamed response waits on it for a disconnect)."""
    pending = list(messages)

    async def replay():
        return pending.pop(0) if pending else await receive()

    return replay


class RequestLimit:
    """At most ``limit`` requests in progress; beyond them the same JSON 503 with ``Retry-After`` as a full queue.
    uvicorn's own ``limit_concurrency`` stays, set higher, as a backstop for idle connections; it answers in JSON
    too (``heedful.serve.protocol``)."""

    def __init__(self, app, limit: int, retry_after: int):
        self.app, self.limit, self.retry_after, self.active = app, limit, retry_after, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            body = problem_body(f"over {self.limit} requests in progress; retry later", None, self.limit)
            headers = {"Retry-After": str(self.retry_after)}
            return await _json_response(503, body, headers)(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class BearerToken:
    """Every path but ``/health`` needs ``Authorization: Bearer <token>``."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, value = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self.token):
            body = problem_body("missing or wrong bearer token", "Authorization")
            return await _json_response(401, body, {"WWW-Authenticate": "Bearer"})(scope, receive, send)
        await self.app(scope, receive, send)
