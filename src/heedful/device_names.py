"""The ``--device`` flag's names and syntax, without torch (configs check it on import-light paths;
``heedful.devices`` resolves it and checks what the machine has)."""

from __future__ import annotations

import re

from heedful.errors import InputError

DEVICES = ("auto", "cpu", "cuda", "mps")
DEVICE_HELP = "where to compute: auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N or mps"
SPEC = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d{1,3}))?$")


def check_device_spec(spec: str | None) -> None:
    """The flag's syntax alone (configs check it without importing torch; availability is checked on use)."""
    text = "auto" if spec is None else str(spec).strip().lower()
    match = SPEC.match(text)
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise InputError(f"--device must be one of auto, cpu, cuda, cuda:N, mps; got {str(spec)[:40]!r}")
