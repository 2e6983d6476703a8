"""An index folder of training samples (``index.faiss`` + sidecar + ``items.json``), retrieval from it, and the
nearest-neighbour copy baseline built on it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from heedful.cache import features_cache
from heedful.errors import InputError
from heedful.rationale.data.loaders import parse_rationale
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.data.schema import Rationale, Sample, printable
from heedful.rationale.retrieval.config import KeyConfig, KnnConfig, QueryConfig  # noqa: F401  (re-exported)
from heedful.rationale.retrieval.keys import sample_vectors, vector_source
from heedful.rationale.retrieval.knn import copy_rationale, speakers_by_role
from heedful.runs import read_json, write_json


def build_index(samples: list[Sample], key: KeyConfig, folder: str | Path, meta: dict | None = None) -> Path:
    """``folder/index.faiss`` + ``index.json`` sidecar + ``items.json`` (rationales and speaker roles by id)."""
    from heedful.rationale.retrieval.index import VectorIndex

    missing = [s.sample_id for s in samples if s.rationale is None]
    if missing:
        raise InputError(f"sample {missing[0]}: rationale: missing (an index stores rationales to copy)")
    source = vector_source(key)
    vectors = sample_vectors(samples, key)
    index = VectorIndex(vectors.shape[1], {"key": asdict(key), "source": source} | (meta or {}))
    index.add(vectors, [s.sample_id for s in samples], [s.clip_id for s in samples])
    folder = Path(folder)
    items = {s.sample_id: {"rationale": s.rationale.to_dict(), "roles": speakers_by_role(s)} for s in samples}
    write_json(folder / "items.json", items)
    index.save(folder / "index.faiss")
    return folder


def open_index(folder: str | Path, cache_dir: str | None = ""):
    """(VectorIndex, items, KeyConfig) of a folder written by ``build_index``, each file checked against the others.
    The key's ``cache_dir`` is the caller's, never the sidecar's: an index file must not decide where this process
    writes (the sidecar's checksum does not cover it). ``""``: the user's feature cache (``heedful.cache``);
    None: no cache."""
    from heedful.rationale.retrieval.index import VectorIndex

    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"no index folder {folder} (build one with 'heedful rationale index')")
    index = VectorIndex.load(folder / "index.faiss")
    sidecar = folder / "index.json"
    try:
        key = KeyConfig(**{**index.meta["key"], "cache_dir": features_cache() if cache_dir == "" else cache_dir})
    except (KeyError, TypeError):
        raise InputError(
            f"{sidecar}: meta.key is missing or malformed (rebuild with 'heedful rationale index')"
        ) from None
    except InputError as err:  # a value KeyConfig refuses
        raise InputError(f"{sidecar}: meta.key: {err}") from None
    items_path = folder / "items.json"
    if not items_path.is_file():
        raise FileNotFoundError(f"no items.json in index folder {folder}")
    items = read_json(items_path)
    if not isinstance(items, dict):
        raise InputError(f"{items_path}: expected a JSON object of sample id -> item")
    for sid in index.ids:
        _check_item(items.get(sid), sid, items_path)
    return index, items, key


def _check_item(item, sample_id: str, path: Path) -> None:
    sample_id = printable(sample_id)
    if item is None:
        raise InputError(f"{path}: sample {sample_id}: missing (the index lists it)")
    if not isinstance(item, dict):
        raise InputError(f"{path}: sample {sample_id}: expected an object with rationale and roles")
    try:
        parse_rationale(item.get("rationale"), sample_id)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    if item.get("rationale") is None:
        raise InputError(f"{path}: sample {sample_id}: rationale missing")
    roles = item.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InputError(f"{path}: sample {sample_id}: roles must be a list of speaker names")


def retrieve(index, key: KeyConfig, samples: list[Sample], k: int, exclude_clip: bool = True):
    """Neighbours per sample (never the sample itself; nor its clip unless ``exclude_clip`` is False).

    The queries must come from what built the index: same encoder (or graph weights) and dimension."""
    saved = index.meta.get("source")
    if saved is not None and saved != (now := vector_source(key)):
        raise InputError(
            f"retrieval: the index was built from {saved}, but its key now gives {now} (the encoder or graph "
            "changed since): rebuild the index"
        )
    vectors = sample_vectors(samples, key)
    if vectors.shape[1] != index.dim:
        raise InputError(
            f"retrieval: the index holds {index.dim}-d vectors, but its key ({key.key}, {key.encoder}) now gives "
            f"{vectors.shape[1]}-d ones: rebuild the index"
        )
    clips = [s.clip_id for s in samples] if exclude_clip else None
    return index.search(vectors, k, [s.sample_id for s in samples], clips)


def item_rationale(item: dict) -> Rationale:
    return parse_rationale(item["rationale"], "?")  # items were checked by open_index


def predict_knn(folder, samples: list[Sample], k: int = 1, swap: bool = True, exclude_clip: bool = True) -> list[dict]:
    """The nearest neighbour's rationale for each sample, relabelled to its speakers; k neighbours are listed."""
    index, items, key = open_index(folder)
    out = []
    for sample, hits in zip(samples, retrieve(index, key, samples, k, exclude_clip), strict=True):
        if not hits:
            raise InputError(f"sample {sample.sample_id}: no neighbour left in the index after exclusions")
        best = items[hits[0].sample_id]
        r = copy_rationale(item_rationale(best), best["roles"], sample, swap)
        neighbours = [{"sample_id": h.sample_id, "score": round(h.score, 6)} for h in hits]
        out.append(
            {"sample_id": sample.sample_id, "rationale": r.to_dict(), "text": scoring_string(r)}
            | {"neighbours": neighbours}
        )
    return out
