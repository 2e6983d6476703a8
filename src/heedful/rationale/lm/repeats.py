"""Repetition control over the *generated* tokens only.

Hugging Face's ``no_repeat_ngram_size`` and ``repetition_penalty`` look at the whole sequence, and in a decoder-only
LM that includes the prompt: they would forbid the rationale to quote the dialogue it explains (``B说…``), which is
what a good stimulus does. This processor applies the same two rules from ``start`` (the prompt's width) on.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor


class GeneratedRepeats(LogitsProcessor):
    def __init__(self, no_repeat_ngram: int, penalty: float, start: int):
        self.n, self.penalty, self.start = no_repeat_ngram, penalty, start

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        new = input_ids[:, self.start :]  # (rows, generated so far)
        if self.penalty != 1.0 and new.shape[1]:
            picked = scores.gather(1, new)
            scores = scores.scatter(1, new, torch.where(picked < 0, picked * self.penalty, picked / self.penalty))
        if self.n and new.shape[1] >= self.n:
            for row, seq in enumerate(new.tolist()):
                prefix = seq[len(seq) - self.n + 1 :] if self.n > 1 else []
                banned = {
                    seq[i + self.n - 1] for i in range(len(seq) - self.n + 1) if seq[i : i + self.n - 1] == prefix
                }
                if banned:
                    scores[row, list(banned)] = -float("inf")
        return scores
