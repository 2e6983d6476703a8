"""An index run (``heedful rationale index``): what the index holds (size, dimension, key, encoder) and, for a
few indexed samples, their nearest neighbours in it with their rationales."""

from __future__ import annotations

from pathlib import Path

from heedful.errors import InputError
from heedful.report.render import Section, section

EXAMPLES = 3  # samples whose neighbours are shown
NEIGHBOURS = 3


def index_section(folder: Path, problems: list[str]) -> Section | None:
    if not (folder / "index.faiss").is_file():
        return None  # an index run that failed before writing it: items.json's problem line says so
    try:
        from heedful.rationale.retrieval.store import open_index

        index, items, key = open_index(folder)
    except ImportError as err:  # faiss (the rationale extra) is not installed
        problems.append(f"{folder / 'index.faiss'}: cannot open it here ({err})")
        return None
    except (InputError, OSError) as err:
        problems.append(str(err))
        return None
    summary = {
        "samples": len(index),
        "dimension": index.dim,
        "key": key.key,
        "encoder": key.encoder,
        "graph": key.graph,
        "precomputed features": key.features,
        "frame features": key.visual,
        "built from": index.meta.get("source"),
    }
    summary = {k: v for k, v in summary.items() if v is not None}
    return section("index", "Index", "index.html", summary=summary, neighbours=_neighbours(index, items))


def _neighbours(index, items: dict) -> list[dict]:
    from heedful.rationale.data.prompt import scoring_string
    from heedful.rationale.retrieval.store import item_rationale

    n = min(EXAMPLES, len(index))
    if n == 0:
        return []
    hits = index.search(index.vectors()[:n], NEIGHBOURS, index.ids[:n], index.clips[:n])
    text = lambda sid: scoring_string(item_rationale(items[sid]))  # noqa: E731
    return [
        {
            "id": sid,
            "text": text(sid),
            "hits": [{"id": h.sample_id, "score": h.score, "text": text(h.sample_id)} for h in row],
        }
        for sid, row in zip(index.ids[:n], hits, strict=True)
    ]
