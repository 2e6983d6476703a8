"""Utterance features: pluggable text encoders (packaged multilingual-e5-small, any local HF encoder, a hashing
encoder for tests), an on-disk cache, and precomputed feature files. numpy only at import."""

from heedful.rationale.features.encoders import (
    E5Encoder,
    HashEncoder,
    HFEncoder,
    Precomputed,
    TextEncoder,
    encode_groups,
    make_encoder,
    utterance_features,
)

__all__ = [
    "E5Encoder",
    "HFEncoder",
    "HashEncoder",
    "Precomputed",
    "TextEncoder",
    "encode_groups",
    "make_encoder",
    "utterance_features",
]
