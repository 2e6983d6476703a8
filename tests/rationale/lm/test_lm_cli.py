import json

import pytest

from heedful.cli import main

from ..conftest import tiny_lm, tiny_tokenizer


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    """A tiny random causal LM saved as a local Hugging Face folder (what a user passes with --lm)."""
    folder = tmp_path_factory.mktemp("tiny-lm")
    tiny_lm().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_then_predict_from_the_cli(tmp_path, capsys, lm_dir):
    common = ["--out", str(tmp_path)]
    encoder = ["--encoder", "hash:16", "--cache-dir", str(tmp_path / "cache")]
    code, out, err = cli(
        capsys,
        "rationale",
        "train",
        "--lm",
        str(lm_dir),
        "--mode",
        "both",
        "--max-train",
        "6",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--max-dev",
        "4",
        "--max-tokens",
        "1500",
        *common,
        *encoder,
    )
    assert code == 0, err
    run = next(tmp_path.glob("rationale-train-both-*"))
    assert (run / "adapter.safetensors").is_file() and (run / "index" / "index.faiss").is_file()
    assert json.loads((run / "metrics.json").read_text())["n_train"] == 6
    _lora_opens_with_peft(run, lm_dir)
    code, out, err = cli(
        capsys,
        "rationale",
        "predict",
        "--method",
        "lm",
        "--model",
        str(run),
        "--limit",
        "2",
        "--max-new-tokens",
        "8",
        "--attention",
        *common,
    )
    assert code == 0, err
    pred_dir = next(tmp_path.glob("rationale-predict-*"))
    preds = json.loads((pred_dir / "predictions.json").read_text())
    assert len(preds) == 2 and "attention" in preds[0] and "generated 2 rationales" in out
    code, _, err = cli(capsys, "rationale", "train", "--resume", str(run))  # finished: resumes to the same end
    assert code == 0, err


def _lora_opens_with_peft(run, lm_dir):
    """RUN/lora is PEFT's layout: PeftModel opens it on the base, with the best weights of adapter.safetensors."""
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from heedful.rationale.lm.peft_layout import peft_name

    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(lm_dir), run / "lora")
    loaded = {n.replace(".default", ""): p for n, p in peft.named_parameters() if "lora_" in n}
    best = {peft_name(n.removeprefix("clm.lm.")): t for n, t in load_file(run / "adapter.safetensors").items()}
    best = {n: t for n, t in best.items() if "lora_" in n}
    assert loaded.keys() == best.keys() and best
    assert all((loaded[n] == t).all() for n, t in best.items())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, lm: ["--lm", str(tmp / "nowhere")], "LM path does not exist"),
        (lambda tmp, lm: ["--lm", str(tmp)], "is not a Hugging Face model folder"),
        (lambda tmp, lm: ["--model", str(tmp / "no-run")], "no such file"),
    ],
)
def test_bad_model_paths_are_one_line_errors(tmp_path, capsys, lm_dir, make, message):
    code, _, err = cli(capsys, "rationale", "predict", "--method", "lm", *make(tmp_path, lm_dir), "--limit", "1")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_not_a_causal_lm_and_corrupt_checkpoint(tmp_path, capsys, lm_dir):
    from transformers import DistilBertConfig, DistilBertModel

    bert = tmp_path / "bert"
    DistilBertModel(DistilBertConfig(dim=16, n_layers=1, n_heads=2, hidden_dim=32)).save_pretrained(bert)
    code, _, err = cli(capsys, "rationale", "predict", "--method", "lm", "--lm", str(bert), "--limit", "1")
    assert code == 2 and "is not a causal LM (model_type 'distilbert')" in err

    run = tmp_path / "run"
    from heedful.rationale.graph.encoder import GraphConfig
    from heedful.rationale.lm.model import RationaleLM, RationaleLMConfig

    cfg = RationaleLMConfig(lm=str(lm_dir), mode="retrieval", graph=GraphConfig(text_dim=16, hidden=16, heads=2))
    RationaleLM(tiny_lm(), cfg).save(run, {"index": None})
    before = (run / "adapter.safetensors").read_bytes()[:100]
    (run / "adapter.safetensors").write_bytes(before)  # truncated
    code, _, err = cli(capsys, "rationale", "predict", "--method", "lm", "--model", str(run), "--limit", "1")
    assert code == 2 and "corrupt checkpoint" in err
    code, _, err = cli(capsys, "rationale", "predict", "--method", "knn", "--limit", "1")
    assert code == 2 and "--method knn needs --index" in err
