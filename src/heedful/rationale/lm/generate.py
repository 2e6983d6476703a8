"""Batched generation of rationales (greedy, beam or sampling) with optional cross-attention export.

Each prediction holds the structured rationale and the official scoring string. With ``attention`` on, it also holds
how the generated tokens' cross-attention spread over the dialogue's utterances (mean over injected layers, heads
and generation steps, renormalised over the utterances) and the share that went to the h_change latents instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from tqdm.auto import tqdm

from heedful.errors import InputError
from heedful.rationale.data.prompt import parse_scoring_string, scoring_string
from heedful.rationale.lm.adapter import RationaleLM
from heedful.rationale.lm.examples import LMExample, collate_prompts

STRATEGIES = ("greedy", "beam", "sample")


@dataclass
class GenerateConfig:
    strategy: str = "greedy"
    num_beams: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 96
    batch_size: int = 8
    attention: bool = False
    seed: int = 0

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise InputError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.num_beams < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise InputError("num_beams, max_new_tokens and batch_size must be >= 1")
        if self.strategy == "sample" and not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise InputError(
                f"sampling needs temperature > 0 and top_p in (0, 1], got {self.temperature}, {self.top_p}"
            )

    def generate_kwargs(self) -> dict:
        if self.strategy == "greedy":
            return {"do_sample": False, "num_beams": 1}
        if self.strategy == "beam":
            return {"do_sample": False, "num_beams": self.num_beams}
        return {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p, "top_k": 0}

    def to_dict(self) -> dict:
        return asdict(self)


def clean_output(text: str) -> str:
    """The first non-empty line: a trained model stops at EOS, a zero-shot one often rambles on."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def utterance_attention(weights: dict[int, list[torch.Tensor]], n_latents: int, lengths: list[int]) -> list[dict]:
    """Per sample (``lengths``: its utterance count): mean attention over its utterances, renormalised, and the share
    that went to the latents."""
    rows = len(lengths)
    steps = [w for per_layer in weights.values() for w in (per_layer[1:] or per_layer)]  # skip the prompt pass
    if not steps:
        return [{} for _ in range(rows)]
    mean = torch.stack([w.mean(dim=(1, 2)) for w in steps]).mean(0)  # (B·k, N) over steps, heads, queries
    mean = mean.view(rows, -1, mean.shape[-1]).mean(1)  # beams / return sequences of a sample together
    out = []
    for row, n in zip(mean, lengths, strict=True):
        nodes = row[n_latents : n_latents + n]  # padded utterance slots get no weight: the mask excludes them
        share = float(nodes.sum())
        out.append(
            {
                "utterances": [round(float(x), 4) for x in nodes / max(share, 1e-12)],
                "latent_share": round(1.0 - share, 4),
            }
        )
    return out


@torch.no_grad()
def generate_rationales(model: RationaleLM, tokenizer, examples: list[LMExample], cfg: GenerateConfig, progress=True):
    from heedful.rationale.graph.encoder import make_batch

    torch.manual_seed(cfg.seed)
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].prompt_ids))  # less left padding
    results: dict[int, dict] = {}
    bar = tqdm(total=len(examples), desc="generating", disable=not progress)
    for start in range(0, len(order), cfg.batch_size):
        ids = order[start : start + cfg.batch_size]
        chosen = [examples[i] for i in ids]
        inputs = collate_prompts(chosen, tokenizer.pad_token_id)
        graph = None
        if model.graph is not None:
            graph = make_batch([e.sample for e in chosen], [e.features for e in chosen], model.cfg.graph)
        with model.condition(graph, record=cfg.attention) as state:
            out = model.lm.generate(
                **inputs,
                max_new_tokens=cfg.max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                **cfg.generate_kwargs(),
            )
            maps = (
                utterance_attention(
                    state.weights, model.cfg.inject.n_latents, [len(e.sample.utterances) for e in chosen]
                )
                if cfg.attention
                else None
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        for row, i in enumerate(ids):
            raw = tokenizer.decode(new[row], skip_special_tokens=True)
            rationale = parse_scoring_string(clean_output(raw))
            entry = {"sample_id": examples[i].sample.sample_id, "rationale": rationale.to_dict()}
            entry |= {"text": scoring_string(rationale), "raw": raw}
            if maps is not None and model.graph is not None:
                entry["attention"] = maps[row]
            results[i] = entry
        bar.update(len(ids))
    bar.close()
    return [results[i] for i in range(len(examples))]
