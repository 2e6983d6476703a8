"""Rationale track: emotion-change reasoning in dialogues (MECR / INSIDE format).

Sub-packages, imports running one way (``lm`` → ``retrieval`` → ``graph`` → ``eval`` → ``features`` → ``data``):

* ``data``: schema, loaders, clip-disjoint splits, prompts and the scoring string (loaded here: pure Python);
* ``features``: utterance encoders and their cache; ``graph``: the change graph and its pre-training;
* ``retrieval``: keys, the FAISS index folder, the nearest-neighbour copy baseline;
* ``eval``: character-level metrics and BERTScore; ``lm``: the conditioned language model.
"""

from heedful.rationale.data import (
    EMOTIONS,
    DataConfig,
    EmoChange,
    LoadResult,
    Rationale,
    Sample,
    Utterance,
    assign_clips,
    clip_split,
    infer_change,
    load_demo,
    load_samples,
    load_split,
    parse_samples,
    sample_to_dict,
    select_split,
)

__all__ = [
    "EMOTIONS",
    "DataConfig",
    "EmoChange",
    "LoadResult",
    "Rationale",
    "Sample",
    "Utterance",
    "assign_clips",
    "clip_split",
    "infer_change",
    "load_demo",
    "load_samples",
    "load_split",
    "parse_samples",
    "sample_to_dict",
    "select_split",
]
