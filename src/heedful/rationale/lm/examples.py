"""Samples → token ids for the LM: prompt (context, retrieved examples, instruction) + target scoring string.

A prompt that does not fit ``max_tokens`` (with room for the rationale) loses retrieved examples first, from the
last; if it still does not fit, the oldest prompt tokens are cut (the BOS token kept). Both are counted per
example (``dropped``, ``truncated``) so callers can say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from heedful.errors import InputError
from heedful.rationale.data.prompt import apply_chat, build_prompt, scoring_string
from heedful.rationale.data.schema import Rationale, Sample
from heedful.rationale.lm.forward import IGNORE


@dataclass
class LMExample:
    sample: Sample
    prompt_ids: list[int]
    target_ids: list[int]  # empty when there is no gold rationale (generation only)
    features: np.ndarray | None = None  # (n utterances, text_dim), for the graph
    dropped: int = 0  # retrieved examples left out to fit
    retrieved: tuple[Rationale, ...] = ()  # the retrieved (relabelled) rationales, for MBR candidates
    truncated: int = 0  # prompt tokens cut from the front to fit
    visual: np.ndarray | None = None  # (n utterances, visual_dim) key-frame features, for the graph

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.target_ids)


def target_ids(tokenizer, sample: Sample, strict: bool = True) -> list[int]:
    """The scored tokens (scoring string + EOS). With a trimmed vocabulary, a token outside it is an input error when
    ``strict`` (the loss would be over another tokenisation), else it is spelled with byte tokens."""
    if sample.rationale is None:
        return []
    text = scoring_string(sample.rationale)
    kw = {"strict": strict, "what": f"sample {sample.sample_id}: rationale"} if hasattr(tokenizer, "vmap") else {}
    return [*tokenizer(text, add_special_tokens=False, **kw).input_ids, tokenizer.eos_token_id]


def prompt_text(tokenizer, sample: Sample, retrieved=(), with_text: bool = True, scene: str | None = None) -> str:
    return apply_chat(tokenizer, build_prompt(sample, list(retrieved), with_text=with_text, scene=scene))


def encode(
    tokenizer,
    sample: Sample,
    retrieved=(),
    max_tokens: int = 1024,
    reserve: int = 0,
    features=None,
    strict=True,
    with_text: bool = True,
    scene: str | None = None,
):
    """One ``LMExample``; ``reserve``: room kept for generated tokens when there is no target."""
    target = target_ids(tokenizer, sample, strict)
    budget = max_tokens - max(len(target), reserve)
    if budget < 8:
        room = f" once {reserve} are kept for generated tokens" if reserve > len(target) else ""
        raise InputError(f"sample {sample.sample_id}: max_tokens {max_tokens} leaves no room for the prompt{room}")
    retrieved = list(retrieved)
    for kept in range(len(retrieved), -1, -1):
        ids = tokenizer(prompt_text(tokenizer, sample, retrieved[:kept], with_text, scene)).input_ids
        if len(ids) <= budget:
            return LMExample(sample, ids, target, features, dropped=len(retrieved) - kept, retrieved=tuple(retrieved))
    keep_bos = tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id
    cut = ids[: int(keep_bos)] + ids[len(ids) - budget + int(keep_bos) :]
    return LMExample(
        sample, cut, target, features, dropped=len(retrieved), truncated=len(ids) - len(cut), retrieved=tuple(retrieved)
    )


def encode_all(
    tokenizer,
    samples,
    retrieved=None,
    features=None,
    max_tokens=1024,
    reserve=0,
    strict=True,
    visual=None,
    with_text: bool = True,
    scenes=None,
) -> list[LMExample]:
    """``scenes``: one verbalised-video phrase (or None) per sample, for the prompt's ``画面：`` line."""
    retrieved = retrieved or [()] * len(samples)
    features = features if features is not None else [None] * len(samples)
    scenes = scenes if scenes is not None else [None] * len(samples)
    examples = [
        encode(tokenizer, s, r, max_tokens, reserve, f, strict, with_text, scene)
        for s, r, f, scene in zip(samples, retrieved, features, scenes, strict=True)
    ]
    for e, v in zip(examples, visual if visual is not None else [None] * len(samples), strict=True):
        e.visual = v
    return examples


def fit_report(examples: list[LMExample]) -> str | None:
    """One line when anything had to be cut to fit the context, else None."""
    dropped = sum(e.dropped for e in examples)
    cut = [e for e in examples if e.truncated]
    if not dropped and not cut:
        return None
    return f"{dropped} retrieved example(s) dropped and {len(cut)} prompt(s) truncated at the front to fit max_tokens"


def graph_batch(examples: list[LMExample], graph_cfg):
    """The change graphs of ``examples`` as one PyG batch (text features, and visual ones when the graph has them)."""
    from heedful.rationale.graph.encoder import make_batch

    visual = [e.visual for e in examples] if graph_cfg.visual_dim else None
    return make_batch([e.sample for e in examples], [e.features for e in examples], graph_cfg, visual)


def collate_train(examples: list[LMExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded input_ids, attention_mask and labels (prompt and padding = IGNORE)."""
    width = max(len(e) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE)
    mask = torch.zeros_like(ids)
    for row, e in enumerate(examples):
        seq = e.prompt_ids + e.target_ids
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(e.prompt_ids) : len(seq)] = torch.tensor(e.target_ids)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def collate_prompts(examples: list[LMExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-padded prompts for generation."""
    width = max(len(e.prompt_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, e in enumerate(examples):
        ids[row, width - len(e.prompt_ids) :] = torch.tensor(e.prompt_ids)
        mask[row, width - len(e.prompt_ids) :] = 1
    return {"input_ids": ids, "attention_mask": mask}


def retrieved_rationales(index_folder, samples: list[Sample], k: int, exclude_clip: bool = True):
    """k retrieved rationales per sample, relabelled to the sample's speakers (never the sample or its clip)."""
    from heedful.rationale.retrieval.knn import copy_rationale
    from heedful.rationale.retrieval.store import item_rationale, open_index, retrieve

    if k == 0:
        return [[] for _ in samples]
    index, items, key = open_index(index_folder)
    out: list[list[Rationale]] = []
    for sample, hits in zip(samples, retrieve(index, key, samples, k, exclude_clip), strict=True):
        out.append(
            [copy_rationale(item_rationale(items[h.sample_id]), items[h.sample_id]["roles"], sample) for h in hits]
        )
    return out
