"""The service over a rationale LM: a tiny random LM trained for one epoch on six demo dialogues (no download)."""

import pytest

from heedful.cli import main
from rationale.conftest import tiny_lm, tiny_tokenizer  # tests/rationale (a package; tests/ is on the path)


def tiny_base(root):
    """A tiny random LM folder under ``root`` (what --lm takes)."""
    (root / "base").mkdir()
    tiny_lm().save_pretrained(root / "base")
    tiny_tokenizer().save_pretrained(root / "base")
    return root / "base"


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    args = ["rationale", "train", "--lm", str(tiny_base(root)), "--mode", "both", "--max-train", "6", "--epochs", "1"]
    args += ["--batch-size", "2", "--max-dev", "2", "--max-tokens", "1500", "--out", str(root)]
    args += ["--encoder", "hash:16", "--cache-dir", str(root / "cache")]
    assert main(args) == 0
    return next(root.glob("rationale-train-both-*"))


@pytest.mark.slow
def test_lm_answers_with_attention_equal_the_pipeline(lm_run, demo_split):
    from fastapi.testclient import TestClient

    from heedful.rationale.data.loaders import sample_to_dict
    from heedful.rationale.lm.config import GenerateConfig
    from heedful.rationale.lm.pipeline import predict_pipeline
    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app
    from heedful.serve.models import LMModel

    gen = GenerateConfig(max_new_tokens=6)
    model = LMModel(lm_run, gen)
    dev = demo_split[1][:2]
    with TestClient(create_app(ServeConfig(), [], model)) as c:
        assert c.get("/health").json()["rationale"]["mode"] == "both"
        body = {"dialogues": [sample_to_dict(s) for s in dev], "attention": True}
        answer = c.post("/v1/rationale", json=body).json()
        plain = c.post("/v1/rationale", json=body | {"attention": False}).json()
    want = predict_pipeline(dev, GenerateConfig(max_new_tokens=6, attention=True), str(lm_run), progress=False)
    assert [p["text"] for p in answer["predictions"]] == [w["text"] for w in want]
    assert [p["text"] for p in plain["predictions"]] == [w["text"] for w in want]
    for p, s in zip(answer["predictions"], dev, strict=True):
        weights = p["attention"]["utterances"]
        assert len(weights) == len(s.utterances) and abs(sum(weights) - 1) < 1e-3
    assert all(p["attention"] is None for p in plain["predictions"])


@pytest.mark.slow
def test_lm_generation_flags_reach_the_model(lm_run):
    from heedful.cli import build_parser
    from heedful.cli.serve import load_models

    args = build_parser().parse_args(
        ["serve", "--method", "lm", "--model", str(lm_run), "--strategy", "beam", "--beams", "2"]
    )
    process, model = load_models(args)
    assert process == [] and model.gen.strategy == "beam" and model.gen.beams == 2
    assert model.gen.max_new_tokens == type(model.gen)().max_new_tokens  # unset: the config's default


@pytest.fixture(scope="module")
def video_run(tmp_path_factory):
    from rationale.lm.test_visual_lm import demo_npz

    root = tmp_path_factory.mktemp("lm-video")
    args = ["rationale", "train", "--lm", str(tiny_base(root)), "--mode", "xattn", "--max-train", "4", "--epochs", "1"]
    args += ["--batch-size", "2", "--max-dev", "2", "--max-tokens", "1500", "--out", str(root), "--gate-init", "0.3"]
    args += ["--encoder", "hash:16", "--cache-dir", str(root / "cache"), "--visual", demo_npz(root / "v.npz")]
    assert main(args) == 0
    return next(root.glob("rationale-train-xattn-*")), root / "v.npz"


@pytest.mark.slow
def test_video_model_takes_frames_in_the_request_and_refuses_without(video_run, demo_split):
    import numpy as np
    from fastapi.testclient import TestClient

    from heedful.rationale.data.loaders import sample_to_dict
    from heedful.rationale.features.visual import VisualFile
    from heedful.rationale.lm.config import GenerateConfig
    from heedful.rationale.lm.pipeline import predict_pipeline
    from heedful.serve import ServeConfig
    from heedful.serve.app import create_app
    from heedful.serve.models import LMModel

    run, npz = video_run
    dev = demo_split[1][:2]
    frames = VisualFile(npz).for_samples(dev)
    plain = [sample_to_dict(s) for s in dev]
    with_frames = []
    for record, rows in zip(plain, frames, strict=True):
        utts = [u | {"visual": [float(x) for x in row]} for u, row in zip(record["utterances"], rows, strict=True)]
        with_frames.append(record | {"utterances": utts})
    with TestClient(create_app(ServeConfig(), [], LMModel(run, GenerateConfig(max_new_tokens=5)))) as c:
        answer = c.post("/v1/rationale", json={"dialogues": with_frames})
        assert answer.status_code == 200
        refused = c.post("/v1/rationale", json={"dialogues": plain})
        assert refused.status_code == 422 and "trained with video" in refused.json()["error"]
        partial = [with_frames[0] | {"utterances": with_frames[0]["utterances"][:1] + plain[0]["utterances"][1:]}]
        bad = c.post("/v1/rationale", json={"dialogues": partial})
        assert bad.status_code == 422 and "utterances[1].visual" in bad.json()["field"]
        wide = [
            with_frames[0] | {"utterances": [u | {"visual": u["visual"] + [0.0]} for u in with_frames[0]["utterances"]]}
        ]
        assert c.post("/v1/rationale", json={"dialogues": wide}).status_code == 422
        nan = c.post(
            "/v1/rationale",
            content='{"dialogues": [{"utterances": [{"text": "a", "speaker": "A", '
            '"emotion": ["Neutral"], "visual": [NaN]}]}]}',
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 422
    want = predict_pipeline(dev, GenerateConfig(max_new_tokens=5), str(run), progress=False)
    assert [p["text"] for p in answer.json()["predictions"]] == [w["text"] for w in want]
    assert np.isfinite([len(w["text"]) for w in want]).all()
