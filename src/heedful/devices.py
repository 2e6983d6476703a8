"""``--device auto|cpu|cuda[:N]|mps``: one parser for every command that trains or predicts.

``resolve_device`` turns the flag into a ``torch.device`` or refuses in one line (a machine without CUDA asked for
``cuda``); ``accelerator_kwargs`` gives the ``Accelerator`` arguments that put training on that device (under
``accelerate launch`` the launcher decides, as it must for one device per process); ``to_device`` moves a batch
(tensors inside dicts, lists and tuples) to where the model is, so prediction never hands CPU tensors to a GPU model.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from heedful.device_names import DEVICE_HELP, DEVICES, SPEC, check_device_spec  # noqa: F401 (re-exported)
from heedful.errors import InputError

if TYPE_CHECKING:
    import torch


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The device named by ``spec``; ``auto`` is CUDA, else MPS, else CPU. Refuses what this machine lacks."""
    import torch

    if isinstance(spec, torch.device):
        spec = str(spec)
    check_device_spec(spec)
    text = "auto" if spec is None else str(spec).strip().lower()
    kind, index = SPEC.match(text).groups()
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU visible"
            raise InputError(f"--device {text}: CUDA is not available here (torch {torch.__version__}, {build})")
        if index is not None and int(index) >= torch.cuda.device_count():
            raise InputError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(text)
    if kind == "mps" and not _mps_available():
        raise InputError("--device mps: Apple's MPS backend is not available here")
    return torch.device(kind)


def launched() -> bool:
    """True under ``accelerate launch`` / ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def main_process() -> bool:
    """True outside a launch and in its first process (torchrun's ``RANK`` 0): the one that writes and prints."""
    return os.environ.get("RANK", "0") == "0"


def single_process(command: str) -> None:
    """Refuse, in one line, to run ``command`` in each process of a launch: its work is one process's, and every
    process would do all of it (and write the same files)."""
    if launched():
        raise InputError(
            f"{command} runs in one process only, and this launch started {os.environ['WORLD_SIZE']}; run it "
            "without accelerate launch / torchrun"
        )


def accelerator_kwargs(spec: str | None) -> dict:
    """``Accelerator`` arguments that train on ``spec``'s device (checked first, so a bad flag fails before work)."""
    import torch

    device = resolve_device(spec)
    if launched():  # the launcher assigns one device per process; CPU processes need cpu=True to stay distributed
        return {"cpu": not torch.cuda.is_available()}
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    return {"cpu": device.type == "cpu"}


def to_device(batch, device: torch.device | str):
    """``batch`` with every tensor moved to ``device`` (dicts, lists and tuples are walked; the rest kept)."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a NamedTuple: rebuilt field by field
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    if hasattr(batch, "to") and callable(batch.to):
        return batch.to(device)
    return batch


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s first parameter (or buffer) lives; CPU for a model without either."""
    import torch

    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")
