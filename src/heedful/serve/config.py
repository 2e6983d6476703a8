"""Typed settings of ``heedful serve``: where it listens, who may call it, and the input limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from heedful.device_names import DEVICE_HELP, check_device_spec
from heedful.errors import InputError
from heedful.fields import check_fields, param

LOOPBACK = ("127.0.0.1", "::1", "localhost")
TOKEN_ENV = "HEEDFUL_TOKEN"


@dataclass(frozen=True)
class ServeConfig:
    host: str = param("127.0.0.1", "address to listen on; anything but loopback also needs --allow-remote")
    port: int = param(8000, "TCP port")
    allow_remote: bool = param(False, "allow a non-loopback --host")
    max_body_bytes: int = param(1_000_000, "largest request body")
    max_windows: int = param(64, "process windows per request")
    max_window_length: int = param(2_000, "time steps per process window (or CSV rows)")
    max_dialogues: int = param(16, "dialogues per rationale request")
    max_utterances: int = param(64, "utterances per dialogue")
    max_chars: int = param(500, "characters per utterance")
    batch_size: int = param(64, "most windows / dialogues one model call takes, gathered across requests")
    queue_size: int = param(32, "requests waiting for a model; beyond it the answer is 503 + Retry-After")
    retry_after: int = param(1, "seconds a client is told to wait when the queue is full")
    max_connections: int = param(256, "requests in progress at once; beyond them 503 + Retry-After")
    threads: int = param(1, "torch threads per model call (one call at a time per model; more services for more cores)")
    device: str = param("auto", DEVICE_HELP + " for the process models and the rationale LM (knn encodes on the CPU)")

    def __post_init__(self):
        check_fields(self)
        check_device_spec(self.device)
        for name in (
            "max_body_bytes",
            "max_windows",
            "max_window_length",
            "max_dialogues",
            "max_utterances",
            "max_chars",
            "batch_size",
            "queue_size",
            "retry_after",
            "threads",
            "max_connections",
        ):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise InputError(f"port must be in 0..65535, got {self.port}")
        if not self.allow_remote and not is_loopback(self.host):
            raise InputError(f"--host {self.host} is not a loopback address: pass --allow-remote to listen on it")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
