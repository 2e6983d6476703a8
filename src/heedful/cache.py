"""Where heedful keeps what it can rebuild, all under one root (``$HEEDFUL_CACHE``, else ``~/.cache/heedful``):
``models/`` (converted LMs), ``features/`` (encoded utterances), ``indpensim/`` and ``tepsim/`` (simulated batches
and runs)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$HEEDFUL_CACHE`` (``~`` expanded) or ``~/.cache/heedful``."""
    return Path(os.environ.get("HEEDFUL_CACHE") or Path.home() / ".cache" / "heedful").expanduser()


def features_cache() -> str:
    """The encoded-features cache of the rationale commands: ``<cache root>/features``."""
    return str(cache_root() / "features")
