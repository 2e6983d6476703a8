"""Rationale track: emotion-change reasoning in dialogues (MECR / INSIDE format).

Light on import: only the schema, loaders and split are loaded here. Import the heavier parts from their modules:
``heedful.rationale.features`` (utterance encoders), ``.graph`` (PyTorch Geometric change encoder),
``.retrieval`` (FAISS), ``.prompt``, ``.metrics``, ``.knn`` (nearest-neighbour copy baseline), ``.api``.
"""

from heedful.rationale.loaders import LoadResult, load_demo, load_samples, parse_samples, sample_to_dict
from heedful.rationale.schema import EMOTIONS, EmoChange, Rationale, Sample, Utterance, infer_change
from heedful.rationale.split import assign_clips, clip_split, select_split

__all__ = [
    "EMOTIONS",
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
    "parse_samples",
    "sample_to_dict",
    "select_split",
]
