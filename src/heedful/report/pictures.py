"""The run's PNG pictures, embedded as data URLs; a damaged one is left out with a problem line."""

from __future__ import annotations

import base64
import io
from pathlib import Path

MAX_PICTURES = 40


def pictures(folder: Path, problems: list[str]) -> list[dict]:
    pngs = sorted(p for p in folder.rglob("*.png") if len(p.relative_to(folder).parts) <= 3)[:MAX_PICTURES]
    out = []
    for p in pngs:
        data = p.read_bytes()
        if not is_png(data):  # an empty, fake or truncated picture would embed as a broken image
            problems.append(f"{p}: not a readable PNG picture; left out")
            continue
        src = "data:image/png;base64," + base64.b64encode(data).decode()
        out.append({"src": src, "name": p.relative_to(folder).as_posix()})
    return out


def is_png(data: bytes) -> bool:
    from PIL import Image, UnidentifiedImageError

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every pixel: verify() alone misses a truncated last chunk
        return True
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):  # what Pillow raises for damaged images
        return False
