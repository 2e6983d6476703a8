"""Dialogue data: the INSIDE / MECR schema, loaders for both file formats, clip-disjoint splits, prompts and the
official scoring string. Pure Python and numpy: nothing here imports a model."""

from heedful.rationale.data.config import DataConfig, load_split
from heedful.rationale.data.loaders import LoadResult, load_demo, load_samples, parse_samples, sample_to_dict
from heedful.rationale.data.schema import EMOTIONS, EmoChange, Rationale, Sample, Utterance, infer_change
from heedful.rationale.data.split import assign_clips, clip_split, select_split

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
