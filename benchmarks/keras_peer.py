"""heedful vs the seed's Keras code: one Bi-LSTM + attention classifier, trained by each on the same windows.

The seed builds ``Bidirectional(LSTM(64, return_sequences=True))``, an attention layer that
pools the steps and a softmax ``Dense``, compiled with ``optimizer='adam'`` (learning rate 1e-3) and fitted with
``batch_size=32``. Both sides train that classifier on the same ``tep_sim_faults`` windows (benchmark protocol):
heedful's registry model ``bilstm_attn`` through heedful's one training loop (``heedful.process.train.fit``: AdamW
with no weight decay, i.e. Adam), and the same layers in Keras 3 on its torch backend (the same torch, one thread).
Both clip the gradient norm at 1.0 (heedful's loop always clips; Keras gets ``global_clipnorm``). Epochs alternate,
a heedful one then a Keras one, so a change in machine load hits both; seconds per epoch are medians and include
scoring the validation windows. Test accuracy is taken after the last epoch (no early stopping on either side).

Attention: heedful's ``AttentionPooling`` scores step t by uᵀ tanh(W h_t + b) (W: D × D, one shared bias, masks).
The seed's layer scores it by tanh(wᵀ h_t + b_t) (w: D × 1, one bias per time step). ``--keras-attention heedful``
(the default) builds heedful's formula in Keras, so both models hold the same layers and the same parameters but
for PyTorch's second LSTM bias (8 × hidden); ``--keras-attention seed`` builds the seed's layer as written.

Run: HEEDFUL_CACHE=/tmp/tepsim-cache2 .venv/bin/python benchmarks/keras_peer.py [--train-runs 10] [--epochs 15]
Needs Keras 3 (``pip install 'heedful[bench]'``); runs missing from the cache are simulated first (tep extra).
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # read once, when keras is imported: the same torch as heedful's

import argparse
import platform
import statistics
import sys
import time

import numpy as np
import torch

try:
    import keras
    from keras import ops
except ModuleNotFoundError:
    sys.exit("benchmarks/keras_peer.py needs Keras 3: pip install 'heedful[bench]'")

from heedful.process.config import TrainConfig
from heedful.process.models import build_model
from heedful.process.tasks import get_task
from heedful.process.tasks.tep_sim import build_tep_sim_faults, tep_sim_report
from heedful.process.train import fit, predict

CLIP = 1.0  # heedful's loop clips the global gradient norm (TrainConfig.grad_clip); Keras is told the same


class HeedfulPooling(keras.layers.Layer):
    """heedful's attention pooling in Keras: a = softmax_t(uᵀ tanh(W h_t + b)), context = Σ_t a_t h_t."""

    def build(self, shape):
        d = shape[-1]
        self.w = self.add_weight(shape=(d, d), initializer="glorot_uniform", name="w")
        self.b = self.add_weight(shape=(d,), initializer="zeros", name="b")
        self.u = self.add_weight(shape=(d, 1), initializer="glorot_uniform", name="u")

    def call(self, h):
        scores = ops.matmul(ops.tanh(ops.matmul(h, self.w) + self.b), self.u)  # (B, T, 1)
        return ops.sum(h * ops.softmax(scores, axis=1), axis=1)  # (B, D)


class SeedAttention(keras.layers.Layer):
    """The seed's ``AttentionLayer`` in Keras 3 ops: a = softmax_t(tanh(wᵀ h_t + b_t)), context = Σ_t a_t h_t.
    Its bias has one entry per time step, so the layer is tied to one window length."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1], 1), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(shape[1], 1), initializer="zeros", name="b")

    def call(self, h):
        scores = ops.tanh(ops.matmul(h, self.w) + self.b)  # (B, T, 1)
        return ops.sum(h * ops.softmax(scores, axis=1), axis=1)  # (B, D)


POOLINGS = {"heedful": HeedfulPooling, "seed": SeedAttention}


def keras_model(window: int, n_features: int, n_classes: int, hidden: int, attention: str) -> keras.Model:
    inputs = keras.Input((window, n_features))
    h = keras.layers.Bidirectional(keras.layers.LSTM(hidden, return_sequences=True))(inputs)  # (B, T, 2H)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(POOLINGS[attention]()(h))
    return keras.Model(inputs, outputs)


def build_pair(data, hidden: int, lr: float, attention: str, seed: int):
    """(heedful model, compiled Keras model), each seeded."""
    keras.utils.set_random_seed(seed)
    peer = keras_model(data.train.x.shape[1], data.n_features, data.n_classes, hidden, attention)
    peer.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr, epsilon=1e-8, global_clipnorm=CLIP),  # torch's epsilon
        loss="sparse_categorical_crossentropy",
    )
    torch.manual_seed(seed)
    ours = build_model("bilstm_attn", data, hidden_size=hidden, num_layers=1, dropout=0.0)
    return ours, peer


class KerasEpochs:
    """``fit``'s ``on_epoch`` hook: times the heedful epoch that just ended, then trains and times one Keras epoch."""

    def __init__(self, peer: keras.Model, data, batch_size: int):
        self.peer, self.data, self.batch_size = peer, data, batch_size
        self.seconds: dict[str, list[float]] = {"heedful": [], "keras": []}
        self.mark = time.perf_counter()

    def __call__(self, record: dict) -> None:
        self.seconds["heedful"].append(time.perf_counter() - self.mark)
        start = time.perf_counter()
        train, val = self.data.train, self.data.val
        hist = self.peer.fit(train.x, train.y, batch_size=self.batch_size, epochs=1, shuffle=True, verbose=0)
        val_acc = float((keras_predict(self.peer, val.x) == val.y).mean())
        self.seconds["keras"].append(time.perf_counter() - start)
        print(
            f"epoch {record['epoch']}: heedful {self.seconds['heedful'][-1]:.1f} s loss {record['loss']:.4f} "
            f"val {record['val_accuracy']:.4f} | keras {self.seconds['keras'][-1]:.1f} s "
            f"loss {hist.history['loss'][-1]:.4f} val {val_acc:.4f}",
            file=sys.stderr,
            flush=True,
        )
        self.mark = time.perf_counter()


def keras_predict(peer: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(peer.predict(x, batch_size=512, verbose=0)).argmax(-1)


def train_both(data, ours, peer, epochs: int, batch_size: int, lr: float, seed: int) -> dict[str, list[float]]:
    """Alternate epochs of the two; returns the seconds of each epoch, per framework."""
    cfg = TrainConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=0.0, patience=epochs, grad_clip=CLIP, seed=seed
    )
    hook = KerasEpochs(peer, data, batch_size)
    fit(ours, data.train, data.val, cfg, progress=False, on_epoch=hook)
    return hook.seconds


def load_data(train_runs: int, val_runs: int, test_runs: int):
    cfg = get_task("tep_sim_faults").config(train_runs=train_runs, val_runs=val_runs, test_runs=test_runs)
    return build_tep_sim_faults(cfg, progress=False)


def report(data, ours, peer, seconds: dict[str, list[float]], args) -> None:
    scores = {
        "heedful": tep_sim_report(predict(ours, data.test.x)[0], data),
        "keras": tep_sim_report(keras_predict(peer, data.test.x), data),
    }
    params = {"heedful": sum(p.numel() for p in ours.parameters()), "keras": peer.count_params()}
    names = {"heedful": "heedful `bilstm_attn`", "keras": f"Keras 3, {args.keras_attention} attention"}
    per_epoch = {k: statistics.median(v) for k, v in seconds.items()}
    n, t, c = data.train.x.shape
    print(f"## heedful vs Keras 3 ({keras.backend.backend()} backend): Bi-LSTM + attention on tep_sim_faults")
    print(
        f"keras {keras.__version__}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{platform.processor() or platform.machine()}"
    )
    print(
        f"data: {args.train_runs} training / {args.val_runs} validation / {args.test_runs} test runs per class, "
        f"{data.n_classes} classes, benchmark protocol; {n:,} training windows of {t} x {c}"
    )
    print(
        f"training: hidden {args.hidden} per direction, batch {args.batch_size}, Adam lr {args.lr:g}, grad-norm clip "
        f"{CLIP:g}, no dropout, {args.epochs} epochs each, alternated"
    )
    print("| model | parameters | s/epoch (median) | macro acc (18 classes) | overall acc |")
    print("|---|---|---|---|---|")
    for key in ("heedful", "keras"):
        s = scores[key]
        print(
            f"| {names[key]} | {params[key]:,} | {per_epoch[key]:.1f} | {s['macro_accuracy']:.1%} "
            f"| {s['benchmark_accuracy']:.1%} |"
        )
    gap = 100 * (scores["heedful"]["macro_accuracy"] - scores["keras"]["macro_accuracy"])
    print(
        f"ratio heedful / Keras, s/epoch: {per_epoch['heedful'] / per_epoch['keras']:.2f}x (target <= 0.8x); "
        f"macro accuracy heedful - Keras: {gap:+.1f} points (target within 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-runs", type=int, default=10, help="simulated training runs per class")
    parser.add_argument("--val-runs", type=int, default=1)
    parser.add_argument("--test-runs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden", type=int, default=64, help="LSTM units per direction (the seed's 64)")
    parser.add_argument("--batch-size", type=int, default=32, help="the seed's (and Keras's default) 32")
    parser.add_argument("--lr", type=float, default=1e-3, help="Keras's Adam default, which the seed's 'adam' uses")
    parser.add_argument("--keras-attention", choices=tuple(POOLINGS), default="heedful")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # both frameworks: Keras's torch backend runs on this same torch
    data = load_data(args.train_runs, args.val_runs, args.test_runs)
    ours, peer = build_pair(data, args.hidden, args.lr, args.keras_attention, args.seed)
    seconds = train_both(data, ours, peer, args.epochs, args.batch_size, args.lr, args.seed)
    report(data, ours, peer, seconds, args)


if __name__ == "__main__":
    main()
