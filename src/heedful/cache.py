"""Where heedful keeps what it can rebuild: converted models, encoded features, simulated batches."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$HEEDFUL_CACHE`` (``~`` expanded) or ``~/.cache/heedful``."""
    return Path(os.environ.get("HEEDFUL_CACHE") or Path.home() / ".cache" / "heedful").expanduser()
