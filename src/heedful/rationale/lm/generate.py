"""Batched generation of rationales (greedy, beam or sampling) with optional cross-attention export.

Each prediction holds the structured rationale and the official scoring string. With ``attention`` on, it also holds
how the generated tokens' cross-attention spread over the dialogue's utterances (mean over injected layers, heads
and generation steps, renormalised over the utterances) and the share that went to the h_change latents instead.
"""

from __future__ import annotations

import copy

import torch
from tqdm.auto import tqdm

from heedful.errors import InputError
from heedful.rationale.data.prompt import parse_scoring_string
from heedful.rationale.data.schema import Rationale
from heedful.rationale.eval.metrics import meteor, rouge_l
from heedful.rationale.lm.config import GenerateConfig
from heedful.rationale.lm.examples import LMExample, collate_prompts, graph_batch
from heedful.rationale.lm.model import RationaleLM


def _rouge(a: str, b: str) -> float:
    return rouge_l(a, b)["f"]


UTILITIES = {"rouge_l": _rouge, "meteor": meteor}


def mbr_select(candidates: list[str], utility: str = "rouge_l") -> int:
    """Index of the candidate with the highest mean utility against the others (the consensus); the first wins
    ties. Utility is symmetric-agnostic: candidate i is scored as the hypothesis against each other as reference."""
    if not candidates:
        raise InputError("mbr: no candidates to choose from")
    if len(candidates) == 1:
        return 0
    fn = UTILITIES[utility]
    scores = [sum(fn(h, r) for j, r in enumerate(candidates) if j != i) for i, h in enumerate(candidates)]
    return max(range(len(candidates)), key=lambda i: (scores[i], -i))


def generated_string(r: Rationale) -> str:
    """The scoring string of a generated rationale, empty parts left out (so no doubled ``。。`` when the model
    stopped early or wrote two parts only)."""
    stimulus = r.textual + (f"；{r.visual}" if r.visual else "")
    parts = [p.strip().rstrip("；。").strip() for p in (stimulus, r.appraisal, r.response)]
    return "".join(f"{p}。" for p in parts if p)


def clean_output(text: str) -> str:
    """The first non-empty line: a trained model stops at EOS, a zero-shot one often rambles on."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def utterance_attention(
    weights: dict[int, list[torch.Tensor]], n_latents: int, lengths: list[int], visual: bool = False
) -> list[dict]:
    """Per sample (``lengths``: its utterance count): mean attention over its utterances, renormalised, and the share
    that went to the latents. With ``visual`` the tokens are [latents, N nodes, N frames]: an utterance's weight is
    its node's plus its frame's, and ``visual_share`` says how much went to the frames."""
    rows = len(lengths)
    steps = [w for per_layer in weights.values() for w in (per_layer[1:] or per_layer)]  # skip the prompt pass
    if not steps:
        return [{} for _ in range(rows)]
    mean = torch.stack([w.mean(dim=(1, 2)) for w in steps]).mean(0)  # (B·k, N) over steps, heads, queries
    mean = mean.view(rows, -1, mean.shape[-1]).mean(1)  # beams / return sequences of a sample together
    slots = (mean.shape[-1] - n_latents) // 2 if visual else 0  # padded utterance slots of the batch
    out = []
    for row, n in zip(mean, lengths, strict=True):
        nodes = row[n_latents : n_latents + n]  # padded utterance slots get no weight: the mask excludes them
        frames = row[n_latents + slots : n_latents + slots + n] if visual else torch.zeros_like(nodes)
        both = nodes + frames
        share = float(both.sum())
        entry = {"utterances": [round(float(x), 4) for x in both / max(share, 1e-12)]}
        entry["latent_share"] = round(1.0 - share, 4)
        if visual:
            entry["visual_share"] = round(float(frames.sum()), 4)
        out.append(entry)
    return out


def _entry(example: LMExample, raws: list[str], cfg: GenerateConfig) -> dict:
    """The prediction of one sample from its generated texts (one, or MBR's candidates + neighbours)."""
    pool = [(generated_string(parse_scoring_string(clean_output(raw))), raw) for raw in raws]
    if cfg.strategy == "mbr" and cfg.neighbours:
        pool += [(generated_string(r), "(retrieved)") for r in example.retrieved]
    pool = [(text, raw) for text, raw in pool if text] or pool[:1]
    if not pool:
        raise InputError(f"sample {example.sample.sample_id}: mbr has zero candidates (no neighbours retrieved)")
    best = mbr_select([t for t, _ in pool], cfg.utility) if cfg.strategy == "mbr" else 0
    text, raw = pool[best]
    entry = {"sample_id": example.sample.sample_id, "rationale": parse_scoring_string(text).to_dict()}
    entry |= {"text": text, "raw": raw}
    if cfg.strategy == "mbr":
        entry["mbr"] = {"candidates": len(pool), "chosen": best}
    return entry


def quantize_frozen(model: RationaleLM) -> int:
    """Int8 weights (dynamic quantisation: int8 matmuls, activations quantised per call) for every frozen linear layer
    of the LM, in place, for generation on CPU; the trained parts (LoRA, cross-attention) stay float. Returns how many
    layers were quantised."""
    from torch import nn

    names = {
        name
        for name, m in model.lm.named_modules()
        if type(m) is nn.Linear and not any(p.requires_grad for p in m.parameters())
    }
    if names:
        torch.ao.quantization.quantize_dynamic(model.lm, names, dtype=torch.qint8, inplace=True)
    return len(names)


@torch.no_grad()
def prompt_cache(lm, inputs: dict):
    """The LM's key/value cache of each prompt but its last token, computed once for the B prompts."""
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)  # as generate numbers left-padded prompts
    out = lm(
        input_ids=ids[:, :-1],
        attention_mask=mask[:, :-1],
        position_ids=positions[:, :-1],
        use_cache=True,
        logits_to_keep=1,
    )
    return out.cache if hasattr(out, "cache") else out.past_key_values


def from_cache(inputs: dict, cache, n: int, keep: bool = False) -> dict:
    """Generate inputs for ``n`` rows per prompt that start from ``prompt_cache``: ``generate`` feeds only the last
    prompt token, at the position the attention mask gives it. ``keep``: repeat a copy, leaving ``cache`` for the
    next run (generate extends the cache it is given)."""
    cache = copy.deepcopy(cache) if keep else cache
    if n > 1:
        cache.batch_repeat_interleave(n)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    return {"input_ids": ids.repeat_interleave(n, 0), "attention_mask": mask.repeat_interleave(n, 0), "cache": cache}


def shared_prompt(lm, inputs: dict, n: int) -> dict:
    """Generate inputs for ``n`` samples per prompt that pass each prompt through the LM once: its cache is
    computed for the B prompts, then repeated for the B·n rows. ``generate`` with ``num_return_sequences=n`` would
    run every prompt n times, and the prompt is most of the work (about 640 prompt tokens against at most 96 new
    ones); the samples are those of the repeated prompts."""
    return from_cache(inputs, prompt_cache(lm, inputs), n)


@torch.no_grad()
def generate_rationales(model: RationaleLM, tokenizer, examples: list[LMExample], cfg: GenerateConfig, progress=True):
    torch.manual_seed(cfg.seed)
    model.eval()
    if cfg.int8:
        quantize_frozen(model)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].prompt_ids))  # less left padding
    results: dict[int, dict] = {}
    bar = tqdm(total=len(examples), desc="generating", disable=not progress)
    for start in range(0, len(order), cfg.batch_size):
        ids = order[start : start + cfg.batch_size]
        chosen = [examples[i] for i in ids]
        inputs = {k: v.to(model.lm.device) for k, v in collate_prompts(chosen, tokenizer.pad_token_id).items()}
        graph = None
        if model.graph is not None:
            graph = graph_batch(chosen, model.cfg.graph).to(model.lm.device)
        lengths = [len(e.sample.utterances) for e in chosen]
        runs = cfg.mbr_runs() if cfg.strategy == "mbr" else [(1, cfg.generate_kwargs())]
        texts: list[list[str]] = [[] for _ in chosen]
        maps = None
        cache = None
        for r, (n, kwargs) in enumerate(runs):
            with model.condition(graph, record=cfg.attention) as state:
                run_inputs = inputs
                # MBR's greedy and sampled candidates share one pass over each prompt (beam search expands its
                # inputs itself; recorded attention maps need the prompt pass recorded)
                if cfg.strategy == "mbr" and kwargs.get("num_beams", 1) == 1 and not cfg.attention:
                    cache = prompt_cache(model.lm, inputs) if cache is None else cache
                    run_inputs = from_cache(inputs, cache, n, keep=r < len(runs) - 1)
                    kwargs = {k: v for k, v in kwargs.items() if k != "num_return_sequences"}
                if cfg.controls_repeats:  # on the new tokens only: quoting the dialogue stays allowed
                    from transformers import LogitsProcessorList

                    from heedful.rationale.lm.repeats import GeneratedRepeats

                    width = inputs["input_ids"].shape[1]
                    rules = GeneratedRepeats(cfg.no_repeat_ngram, cfg.repetition_penalty, width)
                    kwargs = kwargs | {"logits_processor": LogitsProcessorList([rules])}
                out = model.lm.generate(
                    **run_inputs,
                    max_new_tokens=cfg.max_new_tokens,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    **kwargs,
                )
                if cfg.attention and maps is None:
                    visual = bool(model.cfg.inject.visual_dim)
                    maps = utterance_attention(state.weights, model.cfg.inject.n_latents, lengths, visual)
            new = out[:, inputs["input_ids"].shape[1] :].view(len(chosen), n, -1)  # (B, n, T)
            for row in range(len(chosen)):
                texts[row] += [tokenizer.decode(seq, skip_special_tokens=True) for seq in new[row]]
        for row, i in enumerate(ids):
            results[i] = _entry(examples[i], texts[row], cfg)
            if maps is not None and model.graph is not None:
                results[i]["attention"] = maps[row]
        bar.update(len(ids))
    bar.close()
    return [results[i] for i in range(len(examples))]
