"""The models a service holds, loaded once at start: a process run, a nearest-neighbour index or a rationale LM.

Each has ``describe()`` (what ``/health`` shows) and ``predict(items, options)`` (one answer per item), called
from the batcher's thread only. They use the library's own pieces (``load_trained``, ``open_index``,
``load_for_prediction``, ...) so an answer equals the direct library call for the same input.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from heedful.errors import InputError

NOT_SERVED = {"pen_repair": "its input marks the values to restore with NaN, which the service refuses"}


class ProcessModel:
    """A process ``train`` run folder. Inputs are windows of raw values (T, variables) at the model's resolution.
    ``data`` is what the run's model takes and gives (a ``DataSpec``, read from the run folder alone)."""

    def __init__(self, data, model, config: dict, name: str, folder: str | Path | None = None):
        from heedful.process.tasks import get_task

        if data.name in NOT_SERVED:
            raise InputError(f"{name}: task {data.name} is not served: {NOT_SERVED[data.name]}")
        self.data, self.model, self.config, self.name = data, model.eval(), config, name
        self.task = get_task(data.name)
        self.folder = Path(folder) if folder is not None else None

    @classmethod
    def load(cls, run_dir: str | Path, device: str = "cpu") -> ProcessModel:
        """The run's model on ``device`` (``--device``: auto, cpu, cuda[:N], mps)."""
        from heedful.process.runner import load_trained

        data, model, config = load_trained(run_dir, device)
        return cls(data, model, config, Path(run_dir).name, run_dir)

    def test_split(self):
        """The run's test samples, for the load check: built again from the training data (serving needs none)."""
        if hasattr(self.data, "test"):  # built from a task's data
            return self.data.test
        if getattr(self, "_test", None) is None:
            from heedful.process.runner import load_with_data

            self._test = load_with_data(self.folder)[0].test
        return self._test

    @property
    def variables(self) -> list[str]:
        return list(self.data.feature_names)

    @property
    def window_length(self) -> int | None:
        """The exact number of steps a window must have, or None when any length from 2 on is fine."""
        return self.task.window_length(self.data)

    def describe(self) -> dict:
        d = self.data
        out = {"name": self.name, "task": d.name, "kind": d.kind, "model": self.config.get("model")}
        out |= {"variables": self.variables, "window_length": self.window_length}
        return out | ({"classes": d.class_names} if "classification" in d.kind else {"targets": d.target_names})

    def scaled(self, window: np.ndarray) -> np.ndarray:
        """Scaled exactly as the task scaled its training samples (``tep_faults`` also clips)."""
        return self.task.scale(self.data, np.asarray(window, np.float64))

    def predict(self, windows: list[np.ndarray], options: dict | None = None) -> list[dict]:
        """Windows of any lengths: those of one length go through the model together, unpadded."""
        out: list[dict | None] = [None] * len(windows)
        by_length: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            by_length.setdefault(len(w), []).append(i)
        for rows in by_length.values():
            x = np.stack([self.scaled(windows[i]) for i in rows])  # (B, T, V)
            for i, answer in zip(rows, self._forward(x), strict=True):
                out[i] = answer
        return out

    def _forward(self, x: np.ndarray) -> list[dict]:
        """The answer rows (``heedful.process.answers``: what ``process predict --probabilities --attention``
        gives) of scaled windows ``x`` (B, T, V), computed where the model is."""
        from heedful.process.answers import answer_rows, model_outputs

        return answer_rows(self.data, *model_outputs(self.model, x))


VECTOR_CACHE_ENV = "HEEDFUL_VECTOR_CACHE"
CACHED_TEXTS = 50_000  # utterance vectors a knn service keeps by default (384 floats each: about 80 MB)


def _cached_texts() -> int:
    """How many utterance vectors the knn service keeps: ``$HEEDFUL_VECTOR_CACHE`` (0: none), else the default."""
    value = os.environ.get(VECTOR_CACHE_ENV, "").strip()
    if not value:
        return CACHED_TEXTS
    if not value.isdigit():
        raise InputError(f"{VECTOR_CACHE_ENV} must be a number of texts (0: no cache), got {value!r}")
    return int(value)


class KnnModel:
    """A rationale index folder: copy the nearest indexed sample's rationale, relabelled to the query's speakers."""

    method = "knn"

    def __init__(self, folder: str | Path, k: int = 1, relabel: bool = True):
        from heedful.rationale.features.encoders import make_encoder
        from heedful.rationale.features.memo import MemoEncoder
        from heedful.rationale.retrieval.store import open_index

        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        cached = _cached_texts()
        self.folder, self.k, self.relabel = Path(folder), k, relabel
        self.index, self.items, self.key = open_index(self.folder)
        if self.key.features:
            raise InputError(f"{self.folder}: built from precomputed features, so new dialogues cannot be embedded")
        from heedful.rationale.retrieval.keys import vector_source

        saved, now = self.index.meta.get("source"), vector_source(self.key)
        if saved is not None and saved != now:  # as retrieve() checks: the vectors must come from what built it
            raise InputError(f"{self.folder}: the index was built from {saved}, its key now gives {now}: rebuild it")
        self.aligner = None
        encoder = self.key.encoder
        if self.key.key == "hchange":
            from heedful.rationale.graph.contrastive import load_aligner

            self.aligner, meta = load_aligner(self.key.graph)
            encoder = meta.get("encoder", encoder)
        # once: a text encoder can take seconds to load. Vectors are kept per text: a conversation's request at
        # turn t repeats turns 1..t-1, and dialogues of one clip share lines
        self.encoder = make_encoder(encoder)
        self.encoder.encode(["你好。"])  # some load their weights on first use: not in the first request
        if cached:
            self.encoder = MemoEncoder(self.encoder, max_texts=cached)

    def describe(self) -> dict:
        return {"method": "knn", "index": self.folder.name, "key": self.key.key, "encoder": self.encoder.name}

    def vectors(self, samples) -> np.ndarray:
        from heedful.rationale.features.encoders import utterance_features
        from heedful.rationale.retrieval.keys import text_key

        feats = utterance_features(samples, self.encoder, progress=False)
        if self.aligner is None:
            return text_key(samples, feats)
        from heedful.rationale.graph.contrastive import embed_changes

        return embed_changes(self.aligner, samples, feats)

    def predict(self, samples, options: dict | None = None) -> list[dict]:
        """As ``predict_knn(folder, samples, k, relabel, exclude_clip=False)``: a dialogue sent with the id of an
        indexed sample does not get its own rationale back."""
        from heedful.rationale.data.prompt import scoring_string
        from heedful.rationale.retrieval.knn import copy_rationale
        from heedful.rationale.retrieval.store import item_rationale

        hits = self.index.search(self.vectors(samples), self.k, [s.sample_id for s in samples])
        out = []
        for sample, row in zip(samples, hits, strict=True):
            if not row:
                raise InputError(f"sample {sample.sample_id}: no neighbour left in the index")
            best = self.items[row[0].sample_id]
            r = copy_rationale(item_rationale(best), best["roles"], sample, self.relabel)
            neighbours = [{"sample_id": h.sample_id, "score": round(h.score, 6)} for h in row]
            out.append(
                {"sample_id": sample.sample_id, "rationale": r.to_dict(), "text": scoring_string(r)}
                | {"neighbours": neighbours, "attention": None}
            )
        return out


class LMModel:
    """A trained rationale LM folder (``heedful rationale train``), with its index and features settings, on
    ``gen.device``."""

    method = "lm"

    def __init__(self, folder: str | Path, gen, index: str | None = None):
        from heedful.rationale.lm.pipeline import check_int8, load_for_prediction, model_index
        from heedful.rationale.retrieval.keys import KeyConfig

        self.folder = Path(folder)
        self.model, self.tokenizer, meta = load_for_prediction(str(self.folder), device=gen.device)
        check_int8(gen, self.model)
        # as predict_pipeline: the given index, else the model's own (run-relative), checked against its key
        self.index = model_index(meta, str(self.folder), index) if self.model.cfg.uses_retrieval else index
        if self.model.cfg.uses_retrieval and not self.index:
            raise InputError(
                "this model prompts with retrieved examples: pass --index (a folder from 'rationale index')"
            )
        self.features = KeyConfig(**meta["features"]) if meta.get("features") else KeyConfig()
        self.gen = gen
        if self.model.cfg.uses_xattn or self.model.cfg.uses_retrieval:  # load the encoder now, not in a request
            from heedful.rationale.features.encoders import make_encoder

            make_encoder(self.model.cfg.encoder).encode(["你好。"])

    def frames(self, samples, given) -> list[np.ndarray] | None:
        """The request's frame features, checked against the model (None for a model without video)."""
        dim = self.model.frame_dim
        if not dim:
            return None
        missing = [s.sample_id for s, f in zip(samples, given or [None] * len(samples), strict=True) if f is None]
        if missing:
            raise InputError(
                f"sample {missing[0]}: this model was trained with video: give 'visual' ({dim} floats) on every "
                "utterance"
            )
        return [np.asarray(f, np.float32) for f in given]

    def describe(self) -> dict:
        cfg = self.model.cfg
        index = Path(self.index).name if self.index else None  # names only: /health needs no token
        return {"method": "lm", "model": self.folder.name, "mode": cfg.mode, "index": index}

    def predict(self, samples, options: dict | None = None) -> list[dict]:
        from heedful.rationale.lm.generate import generate_rationales
        from heedful.rationale.lm.pipeline import prepare

        attention = bool((options or {}).get("attention"))
        gen = replace(self.gen, attention=attention, batch_size=max(1, len(samples)))
        frames = self.frames(samples, (options or {}).get("visual"))
        examples = prepare(
            self.model,
            self.tokenizer,
            samples,
            self.index,
            self.features,
            reserve=gen.max_new_tokens,
            progress=False,
            strict=False,  # as predict: a gold rationale sent along is not needed to generate
            frames=frames,
        )
        out = generate_rationales(self.model, self.tokenizer, examples, gen, progress=False)
        for entry in out:
            entry.setdefault("attention", None)
        return out
