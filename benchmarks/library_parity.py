"""Hand-written pieces against the maintained library that does the same: same inputs, largest difference, time.

Each row: our function, the library's, the largest absolute difference of their outputs and the median seconds of
each (measured alternately, ``_timing.compare``). A library that is not installed is reported as such: sacrebleu,
rouge-score and nltk come with ``pip install 'heedful[bench]'``; sklearn and pandas are dependencies.

- character BLEU-4 vs ``sacrebleu.corpus_bleu(tokenize="char", smooth_method="none")``
- character ROUGE-L vs ``rouge_score.rouge_scorer.RougeScorer(["rougeL"])`` with a character tokenizer
- character METEOR vs ``nltk.translate.meteor_score.single_meteor_score`` with exact matches only
- ``r2``, the confusion matrix and per-class recall as they were written by hand vs ``sklearn.metrics``
- the PCA detector's numpy SVD vs ``sklearn.decomposition.PCA`` (components; variances relative), float64 and float32
- eight inlined ``pred * scale + mean`` vs ``Scaler.inverse_transform`` vs ``StandardScaler.inverse_transform``
- the CSV reader that checks every cell (stdlib ``csv``), and ``heedful.process.apply.parse_values`` (pandas for
  files of numbers, that reader for the rest), vs ``pandas.read_csv``

Run: .venv/bin/python benchmarks/library_parity.py [--samples 582]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import random

import numpy as np

from _timing import compare

ALPHABET = "我你他的了是不在有人这那好很生气难过开心害怕惊讶认为感到觉得因为所以她A"


def text_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Rationale-like pairs: references of 30-70 characters, hypotheses that copy stretches of them among noise."""
    rng = random.Random(seed)
    refs, hyps = [], []
    for _ in range(n):
        ref = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(30, 70)))
        hyp = "".join(c if rng.random() < 0.5 else rng.choice(ALPHABET) for c in ref[: rng.randint(20, len(ref))])
        refs.append(ref)
        hyps.append(hyp)
    return hyps, refs


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def report(label: str, diff: float | None, ours: float, lib: float | None, lib_name: str) -> None:
    if lib is None:
        print(f"| {label} | {ours * 1e3:.3f} ms | {lib_name}: not installed | | |")
        return
    print(f"| {label} | {ours * 1e3:.3f} ms | {lib * 1e3:.3f} ms ({lib_name}) | {lib / ours:.1f}x | {diff:.1e} |")


def text_metrics(n: int) -> None:
    from heedful.rationale.eval.metrics import chars, corpus_bleu, meteor, rouge_l

    hyps, refs = text_pairs(n)

    def ours_bleu():
        return corpus_bleu(hyps, refs)

    def ours_rouge():
        return [rouge_l(h, r)["f"] for h, r in zip(hyps, refs, strict=True)]

    def ours_meteor():
        return [meteor(h, r) for h, r in zip(hyps, refs, strict=True)]

    if has("sacrebleu"):
        import sacrebleu

        def lib_bleu():
            return sacrebleu.corpus_bleu(hyps, [refs], tokenize="char", smooth_method="none").score / 100

        t_ours, t_lib = compare(ours_bleu, lib_bleu, repeats=5, warmup=1)
        report(f"BLEU-4, {n} pairs", abs(ours_bleu() - lib_bleu()), t_ours, t_lib, "sacrebleu")
    else:
        report(f"BLEU-4, {n} pairs", None, compare(ours_bleu, ours_bleu, 5, 1)[0], None, "sacrebleu")

    if has("rouge_score"):
        from rouge_score import rouge_scorer

        class CharTokenizer:
            def tokenize(self, text):
                return chars(text)

        scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=CharTokenizer())

        def lib_rouge():
            return [scorer.score(r, h)["rougeL"].fmeasure for h, r in zip(hyps, refs, strict=True)]

        t_ours, t_lib = compare(ours_rouge, lib_rouge, repeats=5, warmup=1)
        diff = float(np.max(np.abs(np.subtract(ours_rouge(), lib_rouge()))))
        report(f"ROUGE-L, {n} pairs", diff, t_ours, t_lib, "rouge-score")
    else:
        report(f"ROUGE-L, {n} pairs", None, compare(ours_rouge, ours_rouge, 5, 1)[0], None, "rouge-score")

    if has("nltk"):
        from nltk.translate.meteor_score import single_meteor_score

        class Exact:  # stage 2 (stems) and 3 (WordNet synonyms) find nothing the exact stage did not
            def stem(self, word):
                return word

            def synsets(self, word):
                return []

        def lib_meteor():
            return [
                single_meteor_score(chars(r), chars(h), preprocess=str, stemmer=Exact(), wordnet=Exact())
                for h, r in zip(hyps, refs, strict=True)
            ]

        t_ours, t_lib = compare(ours_meteor, lib_meteor, repeats=5, warmup=1)
        diff = float(np.max(np.abs(np.subtract(ours_meteor(), lib_meteor()))))
        report(f"METEOR, {n} pairs", diff, t_ours, t_lib, "nltk")
    else:
        report(f"METEOR, {n} pairs", None, compare(ours_meteor, ours_meteor, 5, 1)[0], None, "nltk")


def classification_metrics() -> None:
    from sklearn.metrics import confusion_matrix, r2_score, recall_score

    rng = np.random.default_rng(0)
    y = rng.normal(size=(2000, 3)).astype(np.float32)
    pred = y + rng.normal(scale=0.4, size=y.shape).astype(np.float32)

    def r2_hand():
        a, b = np.asarray(y, np.float64).ravel(), np.asarray(pred, np.float64).ravel()
        return float(1 - ((a - b) ** 2).sum() / ((a - a.mean()) ** 2).sum())

    def r2_lib():
        return float(r2_score(np.asarray(y, np.float64).ravel(), np.asarray(pred, np.float64).ravel()))

    t_ours, t_lib = compare(r2_hand, r2_lib, repeats=50)
    report("r2, 6,000 values", abs(r2_hand() - r2_lib()), t_ours, t_lib, "sklearn r2_score")

    n = 18
    labels = rng.integers(0, n, size=20000)
    guess = np.where(rng.random(20000) < 0.8, labels, rng.integers(0, n, size=20000))

    def confusion_hand():
        c = np.bincount(labels * n + guess, minlength=n * n).reshape(n, n)
        return c, np.diag(c) / c.sum(1)

    def confusion_lib():
        return confusion_matrix(labels, guess, labels=np.arange(n)), recall_score(
            labels, guess, labels=np.arange(n), average=None
        )

    t_ours, t_lib = compare(confusion_hand, confusion_lib, repeats=20)
    (c0, r0), (c1, r1) = confusion_hand(), confusion_lib()
    diff = max(float(np.abs(c0 - c1).max()), float(np.abs(r0 - r1).max()))
    report("confusion + recall, 18 classes, 20,000 windows", diff, t_ours, t_lib, "sklearn.metrics")


def pca() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 52))  # TEP-sized: 52 channels
    normal = rng.normal(size=(10000, 6)) @ mixing + 0.3 * rng.normal(size=(10000, 52))
    for dtype in (np.float64, np.float32):  # float32: the windows the alarm stage passes
        x = normal.astype(dtype)
        z = (x - x.mean(0)) / x.std(0)

        def svd_hand(z=z):
            _, s, vt = np.linalg.svd(z, full_matrices=False)
            var = s**2 / (len(z) - 1)
            k = int(np.searchsorted(np.cumsum(var) / var.sum(), 0.9) + 1)
            return vt[:k], var[:k]

        def svd_lib(z=z):
            p = PCA(n_components=0.9, svd_solver="full").fit(z)
            return p.components_, p.explained_variance_

        t_ours, t_lib = compare(svd_hand, svd_lib, repeats=10)
        (v0, e0), (v1, e1) = svd_hand(), svd_lib()
        signs = np.sign((v0 * v1).sum(1))[:, None]
        diff = max(float(np.abs(v0 - signs * v1).max()), float(np.abs(e0 / e1 - 1).max()))
        label = f"PCA fit, 10,000 x 52 {np.dtype(dtype).name}, {len(v0)} components"
        report(label, diff, t_ours, t_lib, "sklearn PCA")


def inverse_scaling() -> None:
    from sklearn.preprocessing import StandardScaler

    from heedful.process.windows import Scaler

    rng = np.random.default_rng(0)
    raw = rng.normal(50, 10, size=(4096, 8)).astype(np.float32)
    scaler = Scaler.fit(raw)
    sk = StandardScaler().fit(raw)
    sk.mean_, sk.scale_ = scaler.mean.astype(np.float64), scaler.scale.astype(np.float64)
    z = scaler.transform(raw).astype(np.float64)

    def inline():
        return z * scaler.scale + scaler.mean

    t_ours, t_lib = compare(inline, lambda: scaler.inverse_transform(z), repeats=50)
    report(
        "inverse scaling, 4,096 x 8",
        float(np.abs(inline() - scaler.inverse_transform(z)).max()),
        t_ours,
        t_lib,
        "Scaler.inverse_transform",
    )
    t_ours, t_lib = compare(lambda: scaler.inverse_transform(z), lambda: sk.inverse_transform(z), repeats=50)
    diff = float(np.abs(scaler.inverse_transform(z) - sk.inverse_transform(z)).max())
    report("Scaler.inverse_transform, 4,096 x 8", diff, t_ours, t_lib, "StandardScaler.inverse_transform")


def csv_reading() -> None:
    import pandas as pd

    from heedful.process.apply import _checked_values, parse_values

    rng = np.random.default_rng(0)
    names = [f"x{i}" for i in range(52)]
    for rows in (50, 2000, 20000):  # a short window, the service's row limit, a long file
        values = rng.normal(size=(rows, 52))
        buf = io.StringIO()
        pd.DataFrame(values, columns=names).to_csv(buf, index=False, float_format="%.6g")
        text = buf.getvalue()
        repeats = 5 if rows > 1000 else 30

        def checking(text=text):
            return _checked_values(text, names, "bench")

        def ours(text=text):
            return parse_values(text, names, "bench")

        def lib(text=text):
            return pd.read_csv(io.StringIO(text), usecols=names)[names].to_numpy(np.float64)

        t_ours, t_lib = compare(checking, lib, repeats=repeats)
        label = f"CSV {rows} x 52, csv module + a check per cell"
        report(label, float(np.abs(checking() - lib()).max()), t_ours, t_lib, "pandas.read_csv")
        t_ours, t_lib = compare(ours, lib, repeats=repeats)
        report(f"CSV {rows} x 52, parse_values", float(np.abs(ours() - lib()).max()), t_ours, t_lib, "pandas.read_csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=582, help="text pairs (582: the dev set)")
    args = parser.parse_args()
    print("| piece | ours | library | library / ours | largest difference |")
    print("|---|---|---|---|---|")
    text_metrics(args.samples)
    classification_metrics()
    pca()
    inverse_scaling()
    csv_reading()


if __name__ == "__main__":
    main()
