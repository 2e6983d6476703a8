"""The ASGI application: ``create_app(config, process=[...], rationale=model, token=...)``.

Every answer is JSON. Bad input of any kind is a 4xx whose body names the field and, where one applies, the limit;
a full queue is 503 with ``Retry-After``; an unexpected failure is a bare 500 (the traceback goes to the log, never
into the body).
"""

from __future__ import annotations

import contextlib
import csv
import hmac
import io
import json
import logging
import math

import numpy as np
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from heedful.errors import InputError
from heedful.serve.batcher import Batcher, Busy
from heedful.serve.config import ServeConfig
from heedful.serve.schemas import ProcessRequest, RationaleRequest

log = logging.getLogger("heedful.serve")
OPEN_PATHS = ("/health",)
CSV_PATH = "/v1/process/predict"


class Problem(Exception):
    """A request the service refuses: HTTP ``status``, the offending ``field`` and the ``limit`` when one applies."""

    def __init__(self, status: int, message: str, field: str | None = None, limit: int | None = None):
        super().__init__(message)
        self.status, self.field, self.limit = status, field, limit


def problem_body(message: str, field: str | None = None, limit=None, **extra) -> dict:
    body = {"error": message, "field": field}
    if limit is not None:
        body["limit"] = limit
    return body | extra


def _field(loc) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _json_response(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 before any parsing (declared or streamed without a length).

    A ``text/csv`` body sent to the process endpoint is handed on as the JSON ``{"csv": text}`` (with ``model``
    and ``stride`` from the query string), so that one schema validates both forms."""

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
            scope, body = _csv_as_json(scope, body)
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)

    async def _refuse(self, scope, receive, send):
        body = problem_body(f"request body over {self.limit} bytes", "body", self.limit)
        await _json_response(413, body, {"Connection": "close"})(scope, receive, send)


def _content_type(scope) -> bytes:
    return dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()


def _csv_as_json(scope, body: bytes):
    from urllib.parse import parse_qsl

    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    obj = {"csv": body.decode("utf-8", errors="replace")} | {k: v for k, v in query.items() if k == "model"}
    if "stride" in query:
        obj["stride"] = int(query["stride"]) if query["stride"].isdigit() else query["stride"]
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


def _install_errors(app: FastAPI, config: ServeConfig) -> None:
    @app.exception_handler(Problem)
    async def _problem(request, err: Problem):
        return _json_response(err.status, problem_body(str(err), err.field, err.limit))

    @app.exception_handler(InputError)
    async def _input(request, err: InputError):
        return _json_response(422, problem_body(str(err), None))

    @app.exception_handler(Busy)
    async def _busy(request, err: Busy):
        body = problem_body(f"the {err} queue is full ({config.queue_size} requests); retry later", None)
        return _json_response(503, body | {"limit": config.queue_size}, {"Retry-After": str(config.retry_after)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, err: RequestValidationError):
        problems = []
        for e in err.errors():
            if e.get("type") == "json_invalid":
                reason = (e.get("ctx") or {}).get("error", "malformed JSON")
                return _json_response(400, problem_body(f"malformed JSON: {reason}", "body"))
            problems.append({"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")})
        first = problems[0] if problems else {"field": "body", "message": "invalid request"}
        return _json_response(
            422, problem_body(f"{first['field']}: {first['message']}", first["field"]) | {"problems": problems[:5]}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, err: StarletteHTTPException):
        return _json_response(err.status_code, problem_body(str(err.detail), None), getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request, err: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _json_response(500, problem_body("internal error", None))


# ---------------------------------------------------------------------------------------------------- process


def _check_window(window, i: int, pm, config: ServeConfig, where: str) -> np.ndarray:
    n, fixed = len(window), pm.window_length
    if fixed is not None and n != fixed:
        raise Problem(422, f"{where}: {n} steps, the model takes windows of exactly {fixed}", where, fixed)
    if n > config.max_window_length:
        limit = config.max_window_length
        raise Problem(422, f"{where}: {n} steps, over the limit of {limit}", where, limit)
    if n < 2:
        raise Problem(422, f"{where}: {n} steps, at least 2 are needed", where)
    v = len(pm.variables)
    for t, step in enumerate(window):
        if len(step) != v:
            names = ", ".join(pm.variables[:3])
            raise Problem(
                422,
                f"{where}[{t}]: {len(step)} variables, the model was trained on {v} ({names}, ...)",
                f"{where}[{t}]",
            )
    return np.asarray(window, np.float64)


def _csv_rows(text: str, pm, config: ServeConfig) -> np.ndarray:
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise Problem(422, "csv: no rows", "csv")
    names, order = pm.variables, None
    if all(_is_name(c) for c in rows[0]):
        header = [c.strip() for c in rows[0]]
        missing = [n for n in names if n not in header]
        if missing:
            raise Problem(422, f"csv header: missing variable {missing[0]!r} (of {len(names)})", "csv")
        order, rows = [header.index(n) for n in names], rows[1:]
    if len(rows) > config.max_window_length:
        limit = config.max_window_length
        raise Problem(422, f"csv: {len(rows)} rows, over the limit of {limit}", "csv", limit)
    values = np.empty((len(rows), len(names)))
    for r, row in enumerate(rows):
        if order is None and len(row) != len(names):
            raise Problem(422, f"csv row {r + 1}: {len(row)} variables, the model was trained on {len(names)}", "csv")
        cells = [row[j] for j in order] if order is not None else row
        for c, cell in enumerate(cells):
            try:
                values[r, c] = float(cell)
            except ValueError:
                raise Problem(
                    422, f"csv row {r + 1} variable {names[c]!r}: not a number: {cell.strip()!r}", "csv"
                ) from None
            if not math.isfinite(values[r, c]):
                raise Problem(422, f"csv row {r + 1} variable {names[c]!r}: not a finite number", "csv")
    return values


def _is_name(text: str) -> bool:
    try:
        float(text)
        return False
    except ValueError:
        return text.strip().lower() not in ("nan", "inf", "-inf", "infinity", "")


def _windows_from_csv(req: ProcessRequest, pm, config: ServeConfig) -> tuple[list[np.ndarray], list[int]]:
    values = _csv_rows(req.csv, pm, config)
    fixed = pm.window_length
    if fixed is None:
        return [_check_window(values, 0, pm, config, "csv")], [len(values)]
    if len(values) < fixed:
        raise Problem(422, f"csv: {len(values)} rows, the model takes windows of {fixed}", "csv", fixed)
    ends = list(range(fixed, len(values) + 1, req.stride))
    if len(ends) > config.max_windows:
        limit = config.max_windows
        raise Problem(422, f"csv: {len(ends)} windows, over the limit of {limit}: raise stride", "stride", limit)
    return [values[e - fixed : e] for e in ends], ends


def _pick_process(models: dict, name: str | None):
    if not models:
        raise Problem(404, "no process model is loaded (start the service with --process RUN)", "model")
    if name is None:
        if len(models) > 1:
            raise Problem(422, f"several process models are loaded: name one of {sorted(models)}", "model")
        return next(iter(models.values()))
    if name not in models:
        raise Problem(422, f"unknown model {name!r}; loaded: {sorted(models)}", "model")
    return models[name]


# ---------------------------------------------------------------------------------------------------- rationale


def _check_dialogues(req: RationaleRequest, config: ServeConfig) -> list[dict]:
    if not req.dialogues:
        raise Problem(422, "dialogues: empty list", "dialogues")
    if len(req.dialogues) > config.max_dialogues:
        limit = config.max_dialogues
        raise Problem(422, f"dialogues: {len(req.dialogues)}, over the limit of {limit}", "dialogues", limit)
    for i, d in enumerate(req.dialogues):
        where = f"dialogues[{i}].utterances"
        if len(d.utterances) > config.max_utterances:
            limit = config.max_utterances
            raise Problem(422, f"{where}: {len(d.utterances)}, over the limit of {limit}", where, limit)
        for j, u in enumerate(d.utterances):
            if len(u.text) > config.max_chars:
                limit = config.max_chars
                raise Problem(
                    422,
                    f"{where}[{j}].text: {len(u.text)} characters, over the limit of {limit}",
                    f"{where}[{j}].text",
                    limit,
                )
    return [d.model_dump(exclude_none=True) for d in req.dialogues]


def create_app(config: ServeConfig, process=(), rationale=None, token: str | None = None) -> FastAPI:
    """The service over already loaded models (``heedful.serve.models``)."""
    from fastapi_offline import FastAPIOffline

    processes = {pm.name: pm for pm in process}
    batchers = {name: Batcher(pm.predict, config.batch_size, config.queue_size, name) for name, pm in processes.items()}
    if rationale is not None:
        batchers[":rationale"] = Batcher(rationale.predict, config.batch_size, config.queue_size, "rationale")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        for b in batchers.values():
            b.close()

    from heedful import __version__

    app = FastAPIOffline(
        title="heedful",
        version=__version__,
        description="Attention-based sequence models that explain themselves: process windows → classes or values "
        "with attention per time step; dialogues → emotion-change rationales.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.batchers = batchers
    _install_errors(app, config)

    @app.get("/health", summary="what is loaded, and the limits")
    async def health():
        return {
            "status": "ok",
            "process": [pm.describe() for pm in processes.values()],
            "rationale": rationale.describe() if rationale is not None else None,
            "queued": {b.name: b.queue.qsize() for b in batchers.values()},
            "limits": {
                k: v for k, v in vars(config).items() if k.startswith("max_") or k in ("batch_size", "queue_size")
            },
            "auth": token is not None,
        }

    csv_body = {"text/csv": {"schema": {"type": "string"}, "example": "XMEAS(1),XMEAS(2)\n0.25,3.1\n"}}

    @app.post(
        CSV_PATH,
        summary="classes or values, probabilities and attention per time step",
        description="JSON (windows or csv), or a text/csv body with ?model=NAME&stride=N in the query string.",
        openapi_extra={"requestBody": {"content": csv_body}},
    )
    async def process_predict(req: ProcessRequest):
        pm = _pick_process(processes, req.model)
        if (req.windows is None) == (req.csv is None):
            raise Problem(422, "give exactly one of windows and csv", "windows")
        ends = None
        if req.csv is not None:
            windows, ends = _windows_from_csv(req, pm, config)
        else:
            if not req.windows:
                raise Problem(422, "windows: empty list", "windows")
            if len(req.windows) > config.max_windows:
                limit = config.max_windows
                raise Problem(422, f"windows: {len(req.windows)}, over the limit of {limit}", "windows", limit)
            windows = [_check_window(w, i, pm, config, f"windows[{i}]") for i, w in enumerate(req.windows)]
        predictions = await batchers[pm.name].submit(windows)
        out = {"model": pm.name, "task": pm.data.name, "kind": pm.data.kind, "predictions": predictions}
        return out | ({"window_ends": ends} if ends is not None else {})

    @app.post("/v1/rationale", summary="the rationale of each dialogue's emotion change")
    async def rationale_predict(req: RationaleRequest):
        if rationale is None:
            raise Problem(404, "no rationale model is loaded (start with --method knn --index RUN or lm --model RUN)")
        from heedful.rationale.data.loaders import parse_samples

        records = _check_dialogues(req, config)
        try:
            samples = parse_samples(records, prefix="dialogue").samples
        except InputError as err:
            raise Problem(422, str(err), "dialogues") from None
        predictions = await batchers[":rationale"].submit(samples, {"attention": req.attention})
        return {"method": rationale.method, "predictions": predictions}

    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    if token:
        app.add_middleware(BearerToken, token=token)  # outermost: no token, no body read
    return app
