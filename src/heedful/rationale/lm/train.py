"""Training loop for the rationale LM (Accelerate): loss on rationale tokens only, AdamW with warmup + cosine,
gradient accumulation, early stopping on dev loss, checkpoints that resume mid-epoch.

Fast on CPU (see ``forward``): the frozen layers below the first adapted layer run once per example and their
output is kept in memory; the LM head runs only at rationale positions; batches group examples of similar length
(less padding).

The state, the epochs, early stopping and checkpoints are the process trainer's (``heedful.training``): a
``LoopState`` saved by ``Checkpoints`` in ``heedful.checkpoint``'s layout, ``state.json`` (written last: where to
resume) naming a ``step-NNNNNN/`` folder with the trainable weights, the optimiser (safetensors + JSON, no pickle), the
scheduler and the random generators; ``best.safetensors`` (best dev loss). ``adapter.safetensors`` + ``config.json`` =
the finished model.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm.auto import tqdm

from heedful import tracking
from heedful.checkpoint import deterministic_algorithms, seed_everything
from heedful.errors import InputError
from heedful.rationale.lm.config import LMTrainConfig
from heedful.rationale.lm.examples import LMExample, collate_train, graph_batch
from heedful.rationale.lm.forward import can_cache, label_loss, lower_states, upper_hidden
from heedful.rationale.lm.model import WEIGHTS, RationaleLM
from heedful.runs import atomic_write
from heedful.training import Checkpoints, average_gradients, close_epoch, make_accelerator


def length_batches(examples: list[LMExample], batch_size: int, seed: int) -> list[list[int]]:
    """Index batches of similar length: shuffle, sort within chunks of 16 batches, shuffle the batches."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = 16 * batch_size
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: len(examples[i]))
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


class LowerCache:
    """Hidden states entering the first adapted layer, per example (unpadded), computed on first use.

    An example's states are always computed with the same batch mates (its group in a fixed, length-sorted
    grouping), whichever training batch first asks for them: a matrix product's last bits depend on the batch it
    runs in, so a run resumed mid-epoch, which meets the examples in another order, gets the very same states. The
    forward runs outside the global random stream, so filling the cache draws no dropout mask that training would
    otherwise have drawn."""

    def __init__(self, model: RationaleLM, examples: list[LMExample], pad_id: int, batch_size: int = 8):
        self.model, self.examples, self.pad_id, self.states = model, examples, pad_id, {}
        order = sorted(range(len(examples)), key=lambda i: (len(examples[i]), i))
        self.groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        self.group_of = {i: g for g, group in enumerate(self.groups) for i in group}

    def _fill(self, group: list[int]) -> None:
        device = self.model.lm.device
        batch = {k: v.to(device) for k, v in collate_train([self.examples[i] for i in group], self.pad_id).items()}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            lower = lower_states(self.model.clm, batch["input_ids"], batch["attention_mask"])
        for row, i in enumerate(group):
            self.states[i] = lower[row, : len(self.examples[i])].clone()

    def batch(self, ids: list[int], batch: dict) -> torch.Tensor:
        for i in ids:
            if i not in self.states:
                self._fill(self.groups[self.group_of[i]])
        width = batch["input_ids"].shape[1]
        first = self.states[ids[0]]
        out = torch.zeros(len(ids), width, first.shape[-1], dtype=first.dtype, device=first.device)
        for row, i in enumerate(ids):
            out[row, : len(self.examples[i])] = self.states[i]
        return out


def batch_loss(model: RationaleLM, examples: list[LMExample], ids: list[int], pad_id: int, cache: LowerCache | None):
    """(mean loss over the batch's rationale tokens, number of those tokens, total tokens)."""
    chosen = [examples[i] for i in ids]
    device = model.lm.device
    batch = {k: v.to(device) for k, v in collate_train(chosen, pad_id).items()}
    graph = None
    if model.graph is not None:
        graph = graph_batch(chosen, model.cfg.graph).to(device)
    lower = cache.batch(ids, batch) if cache is not None else None
    with model.condition(graph):
        hidden = upper_hidden(model.clm, lower, batch["attention_mask"], batch["input_ids"])
        loss, n = label_loss(model.lm, hidden, batch["labels"])
    return loss, n, int(batch["attention_mask"].sum())


@torch.no_grad()
def dev_loss(model: RationaleLM, dev: list[LMExample], cfg: LMTrainConfig, pad_id: int, cache) -> float:
    model.eval()
    total, count = 0.0, 0
    for ids in length_batches(dev, cfg.batch_size, seed=0):
        loss, n, _ = batch_loss(model, dev, ids, pad_id, cache)
        total, count = total + float(loss) * n, count + n
    model.train()
    return total / max(count, 1)


def param_groups(model: RationaleLM, cfg: LMTrainConfig) -> list[dict]:
    """LoRA at ``lr``; the fusion weights (cross-attention, gates, condition tokens, graph) at ``fusion_lr``. Their
    gates start at 0, so nothing behind a gate gets a gradient until the gate moves: a larger step lets it."""
    fused = [p for p in model.fusion_parameters() if p.requires_grad]
    fusion = {id(p) for p in fused}
    lora = [p for p in model.parameters() if p.requires_grad and id(p) not in fusion]
    groups = [{"params": lora, "lr": cfg.lr}]
    if fused:
        groups.append({"params": fused, "lr": cfg.fusion_lr or cfg.lr})
    return groups


def gate_values(model: RationaleLM) -> dict[str, list[float]]:
    """tanh of every cross-attention gate, by layer: [attention, feed-forward] (what the condition adds)."""
    if not model.cfg.uses_xattn:
        return {}
    return {str(i): [round(math.tanh(a), 5), round(math.tanh(f), 5)] for i, (a, f) in model.clm.gates().items()}


def check_finite(loss: torch.Tensor, epoch: int) -> None:
    """Stop at the first non-finite loss: NaN weights would train on, never improve the dev loss, and leave no
    best weights to save."""
    if not bool(torch.isfinite(loss).all()):
        raise InputError(
            f"training diverged in epoch {epoch}: the loss is not finite (lower --lr); the last checkpoint is kept"
        )


def check_finite_weights(params, epoch: int) -> None:
    if not all(bool(torch.isfinite(p).all()) for p in params):
        raise InputError(
            f"training diverged in epoch {epoch}: the weights are not finite (lower --lr); the last checkpoint is kept"
        )


def train_lm(
    model: RationaleLM,
    tokenizer,
    train: list[LMExample],
    dev: list[LMExample],
    cfg: LMTrainConfig,
    folder: str | Path,
    progress: bool = True,
) -> dict:
    """Train (or resume) in ``folder``; the best weights end up in ``folder/adapter.safetensors``.

    Reproducible on one machine: the generators are seeded from ``cfg.seed`` (the caller seeds before building the
    model, as ``train_pipeline`` does, for the same initial weights), torch uses deterministic kernels, batches are
    drawn from the seed and the epoch, and a resumed run restores the generators saved with its checkpoint."""
    if model.cfg.mode == "zeroshot":
        raise InputError("mode zeroshot has nothing to train")
    if not train or not dev:
        raise InputError(f"need training and dev examples, got {len(train)} and {len(dev)}")
    folder = Path(folder)
    with deterministic_algorithms():
        return _train(model, tokenizer, train, dev, cfg, folder, progress)


def _train(model, tokenizer, train, dev, cfg: LMTrainConfig, folder: Path, progress: bool) -> dict:
    from transformers import get_cosine_schedule_with_warmup

    seed_everything(cfg.seed)
    accelerator = make_accelerator(cfg.device, cfg.log_with, folder)
    tracking.start(accelerator, cfg.log_with, folder, "rationale", asdict(cfg) | {"mode": model.cfg.mode})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = math.ceil(math.ceil(len(train) / cfg.batch_size) / cfg.grad_accum)
    total = per_epoch * cfg.epochs
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(cfg.warmup * total), total)
    model.to(accelerator.device)
    world, rank = accelerator.num_processes, accelerator.process_index
    if cfg.grad_accum % world:
        raise InputError(f"grad_accum ({cfg.grad_accum}) must be a multiple of the {world} processes")
    checkpoints = Checkpoints(
        folder,
        model,
        optimizer,
        scheduler,
        weights=model.trainable_state,  # the frozen LM is not saved
        load_weights=model.load_trainable,
        accelerator=accelerator,
    )
    state = checkpoints.resume(restore_rng=True)  # batches come from the seed and the epoch; dropout from the generator
    pad_id = tokenizer.pad_token_id
    fast = cfg.cache_lower and can_cache(model.clm)
    train_cache = LowerCache(model, train, pad_id, cfg.batch_size) if fast else None
    dev = dev[: cfg.max_dev]
    dev_cache = LowerCache(model, dev, pad_id, cfg.batch_size) if fast else None
    model.train()
    for epoch in state.remaining(cfg.epochs, cfg.patience):
        batches = length_batches(train, cfg.batch_size, cfg.seed + epoch)
        bar = tqdm(total=len(batches), initial=state.batch, desc=f"epoch {epoch + 1}", disable=not progress)
        start = time.perf_counter()
        for b in range(state.batch, len(batches)):
            if (b % cfg.grad_accum) % world == rank:  # this process's share of the step's batches
                loss, n, tokens = batch_loss(model, train, batches[b], pad_id, train_cache)
                check_finite(loss, epoch + 1)
                accelerator.backward(loss * world / cfg.grad_accum)  # averaged over processes below
                state.tokens, state.label_tokens = state.tokens + tokens * world, state.label_tokens + n * world
                bar.set_postfix(loss=f"{loss.item():.3f}")
            state.batch = b + 1
            if state.batch % cfg.grad_accum == 0 or state.batch == len(batches):
                average_gradients(params, world)
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                check_finite_weights(params, epoch + 1)  # before a step of NaN weights can be saved
                state.step += 1
                tracking.log(
                    accelerator, cfg.log_with, {"loss": loss.item(), "lr": scheduler.get_last_lr()[0]}, state.step
                )
                if state.step % cfg.save_every == 0:
                    state.seconds += time.perf_counter() - start
                    start = time.perf_counter()
                    checkpoints.save(state)
            bar.update()
        bar.close()
        state.seconds += time.perf_counter() - start
        dev_value = dev_loss(model, dev, cfg, pad_id, dev_cache)
        check_finite(torch.tensor(dev_value), epoch + 1)
        gates = gate_values(model)
        record = {"epoch": epoch + 1, "dev_loss": round(dev_value, 5), "step": state.step, "gates": gates}
        flat = {f"gate/{layer}/{part}": v[j] for layer, v in gates.items() for j, part in enumerate(("attn", "ff"))}
        tracking.log(accelerator, cfg.log_with, {"dev_loss": dev_value} | flat, state.step)
        close_epoch(state, dev_value, record, higher_is_better=False, checkpoints=checkpoints)
    tracking.finish(accelerator, cfg.log_with)
    if state.best is None:  # only an edited state.json ends a run before its first epoch
        raise InputError(f"{folder / 'state.json'}: the run stopped before any epoch ended; train it again")
    if accelerator.is_main_process:
        atomic_write(folder / WEIGHTS, lambda p: shutil.copyfile(checkpoints.best, p))
    accelerator.wait_for_everyone()
    return {
        "epochs_run": state.epoch,
        "best_dev_loss": round(state.best, 5),
        "history": state.history,
        "train_seconds": round(state.seconds, 1),
        "tokens_per_second": round(state.tokens / max(state.seconds, 1e-9), 1),
        "label_tokens_per_second": round(state.label_tokens / max(state.seconds, 1e-9), 1),
        "cached_lower_layers": model.clm.first_layer if fast else 0,
        "processes": world,
    }
