import json
import os
import pickle
import shutil

import pytest

from heedful.errors import InputError
from heedful.rationale import load_demo
from heedful.rationale.data.loaders import demo_path
from heedful.rationale.data.prompt import parse_scoring_string
from heedful.rationale.eval.bootstrap import bootstrap_ci, paired_difference
from heedful.rationale.lm.config import GenerateConfig
from heedful.rationale.lm.generate import generated_string, mbr_select
from heedful.rationale.lm.pipeline import predict_pipeline

from ..conftest import tiny_lm, tiny_tokenizer
from .test_lm_cli import cli, lm_dir  # noqa: F401 - the fixture
from .test_lm_train import run


def test_mbr_picks_the_consensus_candidate():
    cands = [
        "他很生气。他觉得被骗。他大喊。",
        "他很生气。他觉得被骗了。他大喊。",
        "天气很好。",
        "他很生气。他被骗。他喊。",
    ]
    assert mbr_select(cands, "rouge_l") in (0, 1, 3)
    assert mbr_select(cands, "meteor") != 2
    assert mbr_select(["只有一个"]) == 0
    with pytest.raises(InputError, match="no candidates"):
        mbr_select([])


def test_mbr_with_zero_candidates_is_refused():
    with pytest.raises(InputError, match="zero candidates"):
        GenerateConfig(strategy="mbr", candidates=0, neighbours=False)
    with pytest.raises(InputError, match="utility"):
        GenerateConfig(strategy="mbr", utility="bleu")


def test_generated_strings_have_no_doubled_stop():
    for raw in ("A说了谎。A生气", "A说了谎。。A生气。", "A说了谎。A生气。A走了。。", "A说了谎"):
        text = generated_string(parse_scoring_string(raw))
        assert "。。" not in text and text.endswith("。")


def test_mbr_generation_with_neighbours(tmp_path):
    run(tmp_path, "both", mode="both")
    samples = load_demo()[:3]
    gen = GenerateConfig(strategy="mbr", candidates=3, mbr_from="both", max_new_tokens=8, batch_size=2)
    preds = predict_pipeline(
        samples, gen, str(tmp_path / "both"), lm=tiny_lm(), tokenizer=tiny_tokenizer(), progress=False
    )
    assert [p["sample_id"] for p in preds] == [s.sample_id for s in samples]
    for p in preds:  # 3 generated + 1 retrieved neighbour (k = 1), empty ones left out
        assert 1 <= p["mbr"]["candidates"] <= 4 and "。。" not in p["text"]
    int8 = GenerateConfig(max_new_tokens=8, int8=True)  # frozen linear layers quantised, trained parts float
    preds = predict_pipeline(samples, int8, str(tmp_path / "both"), lm=tiny_lm(), tokenizer=tiny_tokenizer())
    assert len(preds) == 3 and all("raw" in p for p in preds)


def test_bootstrap_intervals_contain_the_mean_and_pair_differences():
    refs = [s.rationale for s in load_demo()]
    from heedful.rationale.data.prompt import scoring_string

    refs = [scoring_string(r) for r in refs]
    hyps = [r[: len(r) // 2] for r in refs]
    ci = bootstrap_ci(hyps, refs, rounds=200)
    assert set(ci) == {"meteor", "rouge_l", "bleu4"}
    assert all(lo <= hi for lo, hi in ci.values())
    good, bad = [1.0] * 10 + [0.9] * 10, [0.2] * 20
    d = paired_difference(good, bad, rounds=200)
    assert d["real"] and d["low"] > 0
    assert not paired_difference(good, good, rounds=200)["real"]


def test_resume_refuses_a_planted_pickle(tmp_path):
    run(tmp_path, "run", mode="retrieval")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    step = tmp_path / "run" / json.loads((tmp_path / "run" / "state.json").read_text())["dir"]
    (step / "optimizer.pt").write_bytes(pickle.dumps({"optimizer": Evil()}))  # read before the JSON state
    with pytest.raises(InputError, match=r"optimizer\.pt: not a readable optimiser state"):
        run(tmp_path, "run", mode="retrieval")
    assert not marker.exists()


def test_predict_another_file_with_the_training_index_from_another_directory(tmp_path, capsys, lm_dir):  # noqa: F811
    encoder = ["--encoder", "hash:16", "--cache-dir", str(tmp_path / "cache")]
    code, _, err = cli(capsys, "rationale", "index", "--split", "train", "--out", str(tmp_path / "idx"), *encoder)
    assert code == 0, err
    index = next((tmp_path / "idx").glob("rationale-index-*"))
    code, _, err = cli(
        capsys, "rationale", "train", "--lm", str(lm_dir), "--mode", "both", "--max-train", "4", "--epochs", "1",
        "--batch-size", "2", "--max-dev", "2", "--max-tokens", "1500", "--out", str(tmp_path / "t"), *encoder,
    )  # fmt: skip
    assert code == 0, err
    model = next((tmp_path / "t").glob("rationale-train-*"))
    assert json.loads((model / "config.json").read_text())["index"] == "index"  # run-relative
    other = tmp_path / "other.json"
    shutil.copy(demo_path(), other)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        args = ["rationale", "predict", "--method", "lm", "--model", str(model), "--data", str(other)]
        args += ["--split", "all", "--limit", "2", "--max-new-tokens", "4", "--out", str(tmp_path / "p")]
        code, _, err = cli(capsys, *args, "--index", str(index))
        assert code == 0, err
        code, _, err = cli(capsys, *args)  # the model's own index, found from another directory
        assert code == 0, err
        wrong = tmp_path / "idx2"
        code, _, err = cli(capsys, "rationale", "index", "--split", "train", "--out", str(wrong),
                           "--encoder", "hash:8", "--cache-dir", str(tmp_path / "cache"))  # fmt: skip
        code, _, err = cli(capsys, *args, "--index", str(next(wrong.glob("rationale-index-*"))))
        assert code == 2 and "encoder hash:8" in err.strip().splitlines()[-1]
        code, _, err = cli(capsys, *args, "--strategy", "mbr", "--candidates", "0", "--no-neighbours")
        assert code == 2 and "mbr with zero candidates" in err.strip().splitlines()[-1]
        vocab = json.loads((model / "vocab.json").read_text())
        (model / "vocab.json").write_text(json.dumps(vocab | {"kept": vocab["kept"][:-1]}))
        code, _, err = cli(capsys, *args)
        assert code == 2 and "digest" in err.strip().splitlines()[-1]
    finally:
        os.chdir(cwd)


def test_resampled_bleu_equals_corpus_bleu_of_the_resample():
    import numpy as np

    from heedful.rationale.data.prompt import scoring_string
    from heedful.rationale.eval.bootstrap import _resampled_bleu
    from heedful.rationale.eval.metrics import corpus_bleu

    refs = [scoring_string(s.rationale) for s in load_demo()]
    hyps = [r[::-1][: len(r) // 2] + r[: len(r) // 2] for r in refs]
    idx = np.random.default_rng(1).integers(0, len(refs), size=(5, len(refs)))
    fast = _resampled_bleu(hyps, refs, idx)
    slow = [corpus_bleu([hyps[i] for i in row], [refs[i] for i in row]) for row in idx]
    assert np.allclose(fast, slow)


def test_mbr_greedy_candidate_from_the_shared_prompt_pass_is_the_greedy_output(tmp_path):
    run(tmp_path, "both", mode="both")
    samples = load_demo()[:3]

    def predict(cfg):
        return predict_pipeline(
            samples, cfg, str(tmp_path / "both"), lm=tiny_lm(), tokenizer=tiny_tokenizer(), progress=False
        )

    greedy = predict(GenerateConfig(max_new_tokens=8, batch_size=2))
    only = predict(GenerateConfig(strategy="mbr", candidates=0, neighbours=False, mbr_greedy=True, max_new_tokens=8,
                                  batch_size=2))  # fmt: skip
    assert [p["raw"] for p in only] == [p["raw"] for p in greedy]
    pooled = predict(GenerateConfig(strategy="mbr", candidates=2, mbr_greedy=True, max_new_tokens=8, batch_size=2))
    assert all(1 <= p["mbr"]["candidates"] <= 4 for p in pooled)  # greedy + 2 samples + 1 neighbour
