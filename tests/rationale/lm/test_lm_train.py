import json

import pytest
import torch

from heedful.rationale import load_demo
from heedful.rationale.data.config import DataConfig
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.data.schema import Rationale
from heedful.rationale.graph.encoder import GraphConfig
from heedful.rationale.lm.examples import collate_train, encode, fit_report
from heedful.rationale.lm.forward import IGNORE
from heedful.rationale.lm.generate import GenerateConfig
from heedful.rationale.lm.inject import InjectConfig
from heedful.rationale.lm.model import RationaleLMConfig
from heedful.rationale.lm.pipeline import predict_pipeline, train_pipeline
from heedful.rationale.lm.train import LMTrainConfig
from heedful.rationale.retrieval.keys import KeyConfig

from ..conftest import tiny_lm, tiny_tokenizer


def model_cfg(mode="both", max_tokens=1500):
    graph = GraphConfig(text_dim=16, hidden=16, heads=2, layers=1, dropout=0.0)
    cfg = RationaleLMConfig(
        lm="tiny",
        mode=mode,
        graph=graph,
        encoder="hash:16",
        k=1,
        max_tokens=max_tokens,
        inject=InjectConfig(n_latents=2),
    )
    cfg.lora.dropout = 0.0
    return cfg


def run(tmp_path, name, mode="both", epochs=1, **kw):
    torch.manual_seed(0)
    train = LMTrainConfig(epochs=epochs, batch_size=2, grad_accum=2, lr=3e-3, max_dev=4, save_every=1, **kw)
    feats = KeyConfig(cache_dir=str(tmp_path / "cache"))
    report = train_pipeline(
        DataConfig(),
        model_cfg(mode),
        train,
        tmp_path / name,
        feats,
        max_train=8,
        progress=False,
        lm=tiny_lm(),
        tokenizer=tiny_tokenizer(),
    )
    return report


def test_encode_drops_retrieved_examples_before_truncating():
    tok = tiny_tokenizer()
    sample = load_demo()[0]
    shots = [Rationale("很长的刺激" * 20, None, "评价" * 20, "反应" * 20)] * 3
    full = encode(tok, sample, shots, max_tokens=100_000)
    assert full.dropped == 0 and full.truncated == 0
    base = encode(tok, sample, [], max_tokens=100_000)
    fits_one = len(encode(tok, sample, shots[:1], max_tokens=100_000))
    one = encode(tok, sample, shots, max_tokens=fits_one)
    assert one.dropped == 2 and one.truncated == 0
    cut = encode(tok, sample, shots, max_tokens=len(base.target_ids) + 40)
    assert cut.dropped == 3 and cut.truncated > 0 and cut.prompt_ids[0] == tok.bos_token_id
    assert len(cut) <= len(base.target_ids) + 40
    assert "dropped" in fit_report([one, cut]) and fit_report([full]) is None
    assert tok.decode(full.target_ids, skip_special_tokens=True) == scoring_string(sample.rationale)
    assert full.target_ids[-1] == tok.eos_token_id


def test_collate_labels_only_rationale_tokens():
    tok = tiny_tokenizer()
    a, b = (encode(tok, s, []) for s in load_demo()[:2])
    batch = collate_train([a, b], tok.pad_token_id)
    labels = batch["labels"]
    assert (labels[0] != IGNORE).sum() == len(a.target_ids)
    start = len(a.prompt_ids)
    assert labels[0, start : start + len(a.target_ids)].tolist() == a.target_ids
    assert (labels[:, :start] == IGNORE).all()
    assert batch["attention_mask"].sum() == len(a) + len(b)


def test_training_learns_saves_and_resumes_exactly(tmp_path, monkeypatch):
    whole = run(tmp_path, "whole", epochs=2)
    assert whole["epochs_run"] == 2 and whole["cached_lower_layers"] > 0
    assert whole["history"][1]["dev_loss"] < whole["history"][0]["dev_loss"]

    import heedful.rationale.lm.train as train_mod

    calls = {"n": 0}
    real = train_mod.batch_loss

    def killed(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 9:  # epoch 1: 4 training + 2 dev batches; then 2 batches (one step) into epoch 2
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(train_mod, "batch_loss", killed)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "killed", epochs=2)
    monkeypatch.setattr(train_mod, "batch_loss", real)
    state = json.loads((tmp_path / "killed" / "state.json").read_text())
    assert (state["epoch"], state["batch"], state["step"]) == (1, 2, 3)
    # the layout 'rationale train' wrote before it shared heedful.training's state resumes the same way
    old = {"best_dev" if k == "best" else "bad_epochs" if k == "stale" else k: v for k, v in state.items()}
    del old["best_epoch"]
    (tmp_path / "killed" / "state.json").write_text(json.dumps(old))
    resumed = run(tmp_path, "killed", epochs=2)
    assert resumed["history"] == whole["history"]

    from safetensors.torch import load_file

    a, b = (load_file(str(tmp_path / n / "adapter.safetensors")) for n in ("whole", "killed"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cached_and_plain_forward_train_the_same(tmp_path):
    fast = run(tmp_path, "fast")
    slow = run(tmp_path, "slow", cache_lower=False)
    assert slow["cached_lower_layers"] == 0
    assert fast["history"][0]["dev_loss"] == pytest.approx(slow["history"][0]["dev_loss"], rel=1e-4)


@pytest.mark.parametrize("mode", ["retrieval", "xattn"])
def test_trained_models_generate_predictions(tmp_path, mode):
    run(tmp_path, mode, mode=mode)
    samples = load_demo()[:4]
    assert len({len(s.utterances) for s in samples}) > 1  # padded condition tokens in one batch
    gen = GenerateConfig(max_new_tokens=12, batch_size=4, attention=True)
    preds = predict_pipeline(
        samples, gen, str(tmp_path / mode), lm=tiny_lm(), tokenizer=tiny_tokenizer(), progress=False
    )
    assert [p["sample_id"] for p in preds] == [s.sample_id for s in samples]
    for p, s in zip(preds, samples, strict=True):
        assert set(p["rationale"]) == {"stimulus", "appraisal", "response"} and p["text"].endswith("。")
        if mode == "xattn":
            assert len(p["attention"]["utterances"]) == len(s.utterances)
            assert sum(p["attention"]["utterances"]) == pytest.approx(1.0, abs=1e-3)
        else:
            assert "attention" not in p


def test_beam_and_sampling_and_zero_shot(tmp_path):
    """Zero-shot (no run): beam 1 is greedy, a wider beam finds another output; sampling is reproducible from its
    seed, differs between seeds and tends to greedy as the temperature goes to 0."""
    samples = load_demo()[:2]

    def raw(strategy="greedy", **kw):
        gen = GenerateConfig(strategy, max_new_tokens=6, **kw)
        preds = predict_pipeline(samples, gen, None, lm=tiny_lm(), tokenizer=tiny_tokenizer(), progress=False)
        assert [p["sample_id"] for p in preds] == [s.sample_id for s in samples]
        assert all(set(p) == {"sample_id", "rationale", "text", "raw"} for p in preds)
        return [p["raw"] for p in preds]

    greedy = raw()
    assert all(greedy)
    assert raw("beam", beams=1) == greedy
    assert raw("beam", beams=3) != greedy
    sampled = raw("sample", seed=0)
    assert raw("sample", seed=0) == sampled and raw("sample", seed=1) != sampled and sampled != greedy
    assert raw("sample", seed=0, temperature=1e-4) == greedy
    with pytest.raises(ValueError, match="strategy"):
        GenerateConfig("nucleus")


def test_tensorboard_tracking_logs_steps_and_dev_loss(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    report = run(tmp_path, "tracked", epochs=2, log_with="tensorboard")
    (logdir,) = (tmp_path / "tracked" / "tracking").iterdir()
    events = EventAccumulator(str(logdir))
    events.Reload()
    dev = [(e.step, e.value) for e in events.Scalars("dev_loss")]
    assert [s for s, _ in dev] == [h["step"] for h in report["history"]]
    assert [v for _, v in dev] == pytest.approx([h["dev_loss"] for h in report["history"]], abs=1e-5)
    assert [e.step for e in events.Scalars("loss")] == list(range(1, report["history"][-1]["step"] + 1))


def test_mlflow_tracking_names_the_run_and_keeps_its_config_metrics_and_files(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    report = run(tmp_path, "tracked", epochs=1, log_with="mlflow")
    client = MlflowClient(tracking_uri=(tmp_path / "tracked" / "tracking" / "mlruns").as_uri())
    (tracked,) = client.search_runs([client.get_experiment_by_name("rationale").experiment_id])
    assert tracked.info.run_name == "tracked"
    assert tracked.data.metrics["best_dev_loss"] == pytest.approx(report["best_dev_loss"])
    assert [m.step for m in client.get_metric_history(tracked.info.run_id, "dev_loss")] == [
        report["history"][-1]["step"]
    ]
    assert tracked.data.params["train.batch_size"] == "2" and tracked.data.params["model.mode"] == "both"
    assert {"config.json", "metrics.json"} <= {f.path for f in client.list_artifacts(tracked.info.run_id)}
