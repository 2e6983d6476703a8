"""The ASGI application: ``create_app(config, process=[...], rationale=model, token=...)``.

Every answer is JSON. Bad input of any kind is a 4xx whose body names the field and, where one applies, the limit;
a full queue is 503 with ``Retry-After``; an unexpected failure is a bare 500 (the traceback goes to the log, never
into the body).
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from heedful.errors import InputError
from heedful.serve.answers import HealthAnswer, ProcessAnswer, RationaleAnswer
from heedful.serve.batcher import Batcher, Busy
from heedful.serve.config import ServeConfig
from heedful.serve.examples import process_examples
from heedful.serve.inputs import (
    Problem,
    check_dialogues,
    csv_summary,
    field_path,
    pick_process,
    problem_body,
    request_frames,
    windows_from_request,
)
from heedful.serve.middleware import CSV_PATH, BearerToken, BodyLimit, RequestLimit
from heedful.serve.schemas import ERRORS, ProcessRequest, RationaleRequest

log = logging.getLogger("heedful.serve")
# answers are checked against their models but keep the keys the model gave, no more (no added nulls)
SHAPE = {"response_model_exclude_unset": True, "response_model_by_alias": True}


def _json_response(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


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
            problems.append({"field": field_path(e.get("loc", ())), "message": e.get("msg", "invalid")})
        first = problems[0] if problems else {"field": "body", "message": "invalid request"}
        return _json_response(
            422, problem_body(f"{first['field']}: {first['message']}", first["field"]) | {"problems": problems[:5]}
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, err: StarletteHTTPException):
        field = "body" if err.status_code == 400 else None  # FastAPI's own 400: a body it could not decode
        return _json_response(err.status_code, problem_body(str(err.detail), field), getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request, err: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _json_response(500, problem_body("internal error", None))


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
    )  # /docs and /redoc load their scripts from the service (fastapi-offline's packaged copies), not a CDN
    app.state.batchers = batchers
    _install_errors(app, config)

    @app.get("/health", summary="what is loaded, and the limits", response_model=HealthAnswer, **SHAPE)
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

    json_examples, csv_examples = process_examples(processes)
    csv_body = {"text/csv": {"schema": {"type": "string"}} | ({"examples": csv_examples} if csv_examples else {})}
    json_body = {"application/json": {"examples": json_examples}} if json_examples else {}

    @app.post(
        CSV_PATH,
        summary="classes or values, probabilities and attention per time step",
        description="JSON (windows or csv), or a text/csv body with ?model=NAME&stride=N in the query string.",
        openapi_extra={"requestBody": {"content": csv_body | json_body}},
        responses=ERRORS,
        response_model=ProcessAnswer,
        **SHAPE,
    )
    async def process_predict(req: ProcessRequest):
        pm = pick_process(processes, req.model)
        windows, ends = windows_from_request(req, pm, config)
        predictions = await batchers[pm.name].submit(windows)
        out = {"model": pm.name, "task": pm.data.name, "kind": pm.data.kind, "predictions": predictions}
        return out if ends is None else out | csv_summary(pm, ends, predictions)

    @app.post(
        "/v1/rationale",
        summary="the rationale of each dialogue's emotion change",
        responses=ERRORS,
        response_model=RationaleAnswer,
        **SHAPE,
    )
    async def rationale_predict(req: RationaleRequest):
        if rationale is None:
            raise Problem(404, "no rationale model is loaded (start with --method knn --index RUN or lm --model RUN)")
        from heedful.rationale.data.loaders import parse_samples

        records = check_dialogues(req, config)
        try:
            samples = parse_samples(records, prefix="dialogue").samples
        except InputError as err:
            raise Problem(422, str(err), "dialogues") from None
        options = {"attention": req.attention, "visual": request_frames(req)}
        predictions = await batchers[":rationale"].submit(samples, options)
        return {"method": rationale.method, "predictions": predictions}

    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    if token:
        app.add_middleware(BearerToken, token=token)  # no token, no body read
    app.add_middleware(RequestLimit, limit=config.max_connections, retry_after=config.retry_after)  # outermost
    return app
