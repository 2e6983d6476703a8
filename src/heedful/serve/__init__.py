"""``heedful serve``: an ASGI service (FastAPI + uvicorn) over a trained process run and/or a rationale model.

Light on import: FastAPI, torch and the models load inside ``create_app`` and the model classes."""

from heedful.serve.config import TOKEN_ENV, ServeConfig

__all__ = ["TOKEN_ENV", "ServeConfig"]
