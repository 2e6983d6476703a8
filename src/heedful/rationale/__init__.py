"""Rationale track: emotion-change reasoning in dialogues (MECR / INSIDE format).

Sub-packages, imports running one way (``lm`` → ``retrieval`` → ``graph`` → ``eval`` → ``features`` → ``data``):

* ``data``: schema, loaders, clip-disjoint splits, prompts and the scoring string (loaded here: pure Python);
* ``features``: utterance encoders and their cache; ``graph``: the change graph and its pre-training;
* ``retrieval``: keys, the FAISS index folder, the nearest-neighbour copy baseline;
* ``eval``: character-level metrics and BERTScore; ``lm``: the conditioned language model.
"""

from heedful.rationale import data as _data
from heedful.rationale.data import *  # noqa: F403 - the data layer is what ``heedful.rationale`` exports

__all__ = _data.__all__
