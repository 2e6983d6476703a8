"""Is the rationale LM's attention over utterances faithful? (``heedful rationale explain RUN --faithfulness``)

The units ranked and removed are the dialogue's utterances as the gated cross-attention sees them: the graph's node
inputs. Removing an utterance replaces its text embedding by the mean utterance embedding of the measured dialogues;
its speaker, emotion label and place in the graph stay, and so does the prompt text, which still spells every
utterance. So this measures the cross-attention route alone, not what the LM reads in its prompt.

The score is the mean log-probability per token of the rationale the model generated from the intact input
(teacher-forced, ``heedful.explain`` kind ``likelihood``). The layers below the first adapted one never see the
condition, so their output is computed once per sample and every perturbed forward runs the upper layers only.
With ``score_change``, the removal at the headline fraction is also regenerated and scored against the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from heedful.devices import model_device, to_device
from heedful.errors import InputError
from heedful.explain.config import FaithfulnessConfig
from heedful.explain.faithfulness import measure_faithfulness, run_model, seeded_subset
from heedful.explain.model import Explainable
from heedful.explain.perturb import top_k_mask
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.lm.config import RationaleFaithfulnessConfig
from heedful.rationale.lm.examples import LMExample, graph_batch
from heedful.rationale.lm.forward import IGNORE, can_cache, lower_states, mean_log_prob, upper_hidden
from heedful.rationale.lm.model import RationaleLM

REMOVAL = (
    "utterance text embedding replaced by the mean utterance embedding of the measured dialogues (speaker, emotion, "
    "graph and prompt text unchanged)"
)


def text_ids(tokenizer, text: str) -> list[int]:
    """The generated scoring string as the model's target tokens (+ EOS); a trimmed tokenizer spells what it lacks."""
    kw = {"strict": False} if hasattr(tokenizer, "vmap") else {}
    return [*tokenizer(text, add_special_tokens=False, **kw).input_ids, tokenizer.eos_token_id]


@dataclass
class UtteranceModel:
    """The LM on fixed prompts and texts, as a function of the utterances' embeddings: ``explainable()``."""

    model: RationaleLM
    examples: list[LMExample]  # prompt_ids, target_ids (the generated text) and features per sample
    pad_id: int
    mean: Tensor = field(init=False)  # (text_dim,) the removal baseline
    lower: list[Tensor | None] = field(init=False)

    def __post_init__(self):
        if self.model.graph is None:
            raise InputError(
                f"this model (mode {self.model.cfg.mode}) has no cross-attention over utterances: nothing to measure "
                "(train with --mode xattn or both)"
            )
        self.mean = torch.from_numpy(np.concatenate([e.features for e in self.examples]).mean(0)).float()
        fast = can_cache(self.model.clm)
        self.lower = [self._lower(e) if fast else None for e in self.examples]

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    def _lower(self, e: LMExample) -> Tensor:
        ids = torch.tensor([e.prompt_ids + e.target_ids], device=self.device)
        return lower_states(self.model.clm, ids, torch.ones_like(ids))[0]

    def inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """x (N, U, text_dim): utterance embeddings minus the baseline, zero-padded; lengths (N,) utterances."""
        lengths = np.array([len(e.features) for e in self.examples])
        x = np.zeros((len(self.examples), lengths.max(), len(self.mean)), np.float32)
        for i, e in enumerate(self.examples):
            x[i, : lengths[i]] = e.features - self.mean.numpy()
        return x, lengths

    def explainable(self) -> Explainable:
        return Explainable(self.forward, "likelihood", by_row=True)

    def forward(self, x: Tensor, lengths: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        """(B,) mean log p(generated text) per token and (B, U) attention of its tokens over the utterances, computed
        where the model is and given back where ``x`` is."""
        chosen = [self.examples[int(r)] for r in rows]
        graph = graph_batch(chosen, self.model.cfg.graph)
        nodes = []
        for xi, n in zip(x, lengths.tolist(), strict=True):  # utterances, then the graph's super node (zeros)
            nodes += [xi[:n] + self.mean, torch.zeros(1, x.shape[-1], dtype=x.dtype)]
        graph.x = torch.cat(nodes)  # differentiable in x, for the gradient attributions
        graph = to_device(graph, self.device)  # a differentiable copy
        width = max(len(e) for e in chosen)
        mask = torch.zeros(len(chosen), width, dtype=torch.long)
        labels = torch.full((len(chosen), width), IGNORE)
        for row, e in enumerate(chosen):
            mask[row, : len(e)] = 1
            labels[row, len(e.prompt_ids) : len(e)] = torch.tensor(e.target_ids)
        mask, labels = to_device((mask, labels), self.device)
        with self.model.condition(graph, record=True) as state:
            hidden = upper_hidden(self.model.clm, *self._upper_inputs(chosen, rows, width, mask))
        attention = self._attention(state.weights, labels, lengths, x.shape[1])
        return to_device((mean_log_prob(self.model.lm, hidden, labels), attention), x.device)

    def _upper_inputs(self, chosen, rows, width, mask):
        if self.lower[0] is None:
            ids = torch.full(mask.shape, self.pad_id)
            for row, e in enumerate(chosen):
                ids[row, : len(e)] = torch.tensor(e.prompt_ids + e.target_ids)
            return None, mask, ids.to(mask.device)
        lower = torch.zeros(len(chosen), width, self.lower[0].shape[-1], dtype=self.lower[0].dtype, device=mask.device)
        for row, r in enumerate(rows.tolist()):
            lower[row, : len(self.lower[r])] = self.lower[r]
        return lower, mask

    def _attention(self, weights: dict[int, list[Tensor]], labels: Tensor, lengths: Tensor, width: int) -> Tensor:
        """Mean over layers and heads and over the queries that predict the text's tokens; utterance slots only,
        renormalised (the latents' share is left out, as in ``predict --attention``)."""
        queries = (labels[:, 1:] != IGNORE).float()  # (B, T-1): position p predicts token p+1
        per_layer = [w[-1].mean(1)[:, :-1] for w in weights.values()]  # (B, T-1, K+N) each
        mean = torch.stack(per_layer).mean(0)
        pooled = (mean * queries[..., None]).sum(1) / queries.sum(1, keepdim=True)  # (B, K+N)
        k = self.model.cfg.inject.n_latents
        out = torch.zeros(len(lengths), width, device=pooled.device)  # x's padded width, shared by every batch
        for row, n in enumerate(lengths.tolist()):
            nodes = pooled[row, k : k + n].detach()
            out[row, :n] = nodes / nodes.sum().clamp_min(1e-12)
        return out


def with_generated_targets(examples: list[LMExample], texts: list[str], tokenizer) -> list[LMExample]:
    """The examples with the generated text (not the reference) as the scored target."""
    out = []
    for e, text in zip(examples, texts, strict=True):
        if not text:
            raise InputError(f"sample {e.sample.sample_id}: the run generated an empty rationale; nothing to score")
        out.append(replace(e, target_ids=text_ids(tokenizer, text)))
    return out


def score_change(um: UtteranceModel, tokenizer, picked: np.ndarray, cfg: RationaleFaithfulnessConfig) -> dict:
    """Regenerate with the top ``headline_fraction`` of utterances removed (by attention, and at random) and score
    each rationale against its reference: how much the metric moves, not only the likelihood."""
    from heedful.rationale.eval.metrics import meteor, rouge_l
    from heedful.rationale.lm.config import GenerateConfig
    from heedful.rationale.lm.generate import generate_rationales

    examples = [um.examples[i] for i in picked]
    refs = [e.sample.rationale for e in examples]
    if any(r is None for r in refs):
        raise InputError("score_change needs reference rationales in the data (or pass --no-score-change)")
    refs = [scoring_string(r) for r in refs]
    x, lengths = um.inputs()
    xt, lt = torch.from_numpy(x[picked]), torch.from_numpy(lengths[picked])
    _, attention = run_model(um.explainable(), xt, lt, cfg.batch_size, torch.from_numpy(picked))
    generator = torch.Generator().manual_seed(cfg.seed)
    masks = {"attention": top_k_mask(attention, lt, cfg.headline_fraction)}
    masks["random"] = top_k_mask(torch.rand(attention.shape, generator=generator), lt, cfg.headline_fraction)
    gen = GenerateConfig(max_new_tokens=max(len(e.target_ids) for e in examples) + 8, batch_size=cfg.batch_size)
    base = um.mean.numpy()
    texts = {"intact": [tokenizer.decode(e.target_ids, skip_special_tokens=True) for e in examples]}
    for name, mask in masks.items():
        removed = [
            replace(e, features=np.where(m[: len(e.features), None].numpy(), base, e.features))
            for e, m in zip(examples, mask, strict=True)
        ]
        texts[name] = [p["text"] for p in generate_rationales(um.model, tokenizer, removed, gen, progress=False)]
    out: dict = {"fraction": cfg.headline_fraction, "samples": len(examples)}
    for name, hyps in texts.items():
        out[name] = {
            "rouge_l": float(np.mean([rouge_l(h, r)["f"] for h, r in zip(hyps, refs, strict=True)])),
            "meteor": float(np.mean([meteor(h, r) for h, r in zip(hyps, refs, strict=True)])),
            "unchanged": float(np.mean([h == t for h, t in zip(hyps, texts["intact"], strict=True)])),
        }
    return out


def measure(um: UtteranceModel, tokenizer, cfg: RationaleFaithfulnessConfig, progress: bool = False) -> dict:
    """Every faithfulness number of ``heedful.explain`` for the utterance attention, plus the score change."""
    x, lengths = um.inputs()
    base = FaithfulnessConfig(**{f.name: getattr(cfg, f.name) for f in fields(FaithfulnessConfig)})
    result = measure_faithfulness(um.explainable(), x, lengths, base, progress=progress)
    result |= {"removal": REMOVAL, "units": "utterances"}
    if cfg.score_change:
        result["score_change"] = score_change(um, tokenizer, seeded_subset(np.arange(len(x)), cfg), cfg)
    return result


CLOSED = 0.01  # |tanh(gate)| below this: the cross-attention adds under 1% of its output to the residual stream


def gate_report(model: RationaleLM) -> dict:
    """tanh of each injected layer's attention and feed-forward gates (what multiplies their output), and whether
    every attention gate is still (nearly) closed: then the condition barely reaches the LM, and removing
    utterances from it cannot move the prediction, whatever the attention weights say."""
    gates = {
        str(i): {"attention": math.tanh(a), "feed_forward": math.tanh(f)} for i, (a, f) in model.clm.gates().items()
    }
    return {"tanh": gates, "attention_closed": all(abs(g["attention"]) < CLOSED for g in gates.values())}


def open_predict_run(run: Path, device: str = "cpu"):
    """(config, predictions, model (on ``device``), tokenizer, model meta, the run's samples by id) of a ``rationale
    predict --method lm --model RUN`` folder; every predicted sample must be in the run's data."""
    from heedful.rationale.data.config import DataConfig, load_split
    from heedful.rationale.lm.pipeline import load_for_prediction
    from heedful.runs import read_json

    config = read_json(run / "config.json")
    if config.get("command") != "rationale predict" or config.get("method") != "lm":
        raise InputError(f"{run}: not a 'rationale predict --method lm' run folder")
    if not config.get("model"):
        raise InputError(f"{run}: a zero-shot run has no cross-attention over utterances: nothing to measure")
    predictions = read_json(run / "predictions.json")
    model, tokenizer, meta = load_for_prediction(config["model"], device=device)
    by_id = {s.sample_id: s for s in load_split(DataConfig.from_saved(config["data"])).samples}
    missing = [p["sample_id"] for p in predictions if p["sample_id"] not in by_id]
    if missing:
        raise InputError(f"{run}: {len(missing)} predicted sample(s) not in the run's data, e.g. {missing[0]}")
    return config, predictions, model, tokenizer, meta, by_id


def explain_run(run: str | Path, cfg: RationaleFaithfulnessConfig, progress: bool = True) -> dict:
    """Faithfulness of a ``rationale predict --method lm`` run: ``run/faithfulness.json`` and ``.png``."""
    from heedful.explain.plot import deletion_plot
    from heedful.rationale.lm.pipeline import model_index, prepare
    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.runs import write_json

    run = Path(run)
    config, predictions, model, tokenizer, meta, by_id = open_predict_run(run, cfg.device)
    if model.graph is None:
        raise InputError(
            f"{run}: the model (mode {model.cfg.mode}) has no cross-attention over utterances: nothing to measure"
        )
    n_predicted = len(predictions)
    # the measured subset, picked before the costly per-sample work
    predictions = [predictions[i] for i in seeded_subset(np.arange(n_predicted), cfg)]
    samples = [by_id[p["sample_id"]] for p in predictions]
    index = model_index(meta, config["model"], config.get("index")) if model.cfg.uses_retrieval else None
    features = KeyConfig(**meta["features"]) if meta.get("features") else KeyConfig()
    examples = prepare(model, tokenizer, samples, index, features, progress=progress, strict=False)
    examples = with_generated_targets(examples, [p["text"] for p in predictions], tokenizer)
    torch.manual_seed(cfg.seed)
    result = measure(UtteranceModel(model, examples, tokenizer.pad_token_id), tokenizer, cfg, progress)
    result |= {"run": str(run), "model": config["model"], "mode": model.cfg.mode, "of_samples": n_predicted}
    result["gates"] = gate_report(model)
    write_json(run / "faithfulness.json", result)
    deletion_plot(result, run / "faithfulness.png", title=f"rationale LM ({model.cfg.mode}): utterance attention")
    return result
