"""Faithfulness of the rationale LM's utterance attention: the model adapter and ``rationale explain``."""

import json

import numpy as np
import pytest
import torch

from heedful.cli import main
from heedful.errors import InputError
from heedful.rationale import load_demo
from heedful.rationale.lm.config import RationaleFaithfulnessConfig
from heedful.rationale.lm.examples import encode
from heedful.rationale.lm.model import build_rationale_lm
from heedful.rationale.lm.utterance_faithfulness import UtteranceModel, measure, text_ids

from ..conftest import tiny_lm, tiny_tokenizer
from .test_lm_train import model_cfg


def utterance_model(mode="xattn", n=3, open_gates=True):
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    model, tok = build_rationale_lm(model_cfg(mode), tiny_lm(), tok)
    if open_gates:  # a fresh model's gates are closed (tanh(0) = 0): the condition would change nothing
        for block in model.clm.blocks():
            block.attn_gate.gate.data.fill_(1.0)
    model.eval()
    rng = np.random.default_rng(0)
    examples = []
    for sample in load_demo()[:n]:
        feats = rng.standard_normal((len(sample.utterances), 16)).astype(np.float32)
        e = encode(tok, sample, max_tokens=1500, features=feats)
        e.target_ids = text_ids(tok, "A被批评。A觉得委屈。A哭了。")
        examples.append(e)
    return UtteranceModel(model, examples, tok.pad_token_id), tok


def test_forward_gives_log_likelihood_and_attention_over_each_dialogues_utterances():
    um, _ = utterance_model()
    x, lengths = um.inputs()
    out, attention = um.forward(torch.from_numpy(x), torch.from_numpy(lengths), torch.arange(len(x)))
    assert out.shape == (len(x),) and bool((out < 0).all())  # mean log-probabilities
    for row, n in enumerate(lengths):
        assert attention[row, :n].sum().item() == pytest.approx(1.0, abs=1e-5)
        assert float(attention[row, n:].abs().sum()) == 0.0  # padded slots get nothing


def test_cached_lower_layers_give_the_same_likelihood_as_the_whole_model():
    um, _ = utterance_model()
    x, lengths = (torch.from_numpy(a) for a in um.inputs())
    rows = torch.tensor([2, 0])  # out of order, to check that rows pick their own prompts
    assert um.lower[0] is not None
    cached, _ = um.forward(x[rows], lengths[rows], rows)
    um.lower = [None] * len(um.lower)
    whole, _ = um.forward(x[rows], lengths[rows], rows)
    torch.testing.assert_close(cached, whole, atol=1e-5, rtol=1e-5)


def test_removing_utterances_moves_the_likelihood_only_through_open_gates():
    for gates_open in (True, False):
        um, _ = utterance_model(open_gates=gates_open)
        x, lengths = (torch.from_numpy(a) for a in um.inputs())
        rows = torch.arange(len(x))
        intact, _ = um.forward(x, lengths, rows)
        removed, _ = um.forward(torch.zeros_like(x), lengths, rows)  # every utterance at the mean embedding
        moved = float((intact - removed).abs().max().detach())
        assert (moved > 1e-4) if gates_open else (moved < 1e-6)


def test_measure_reports_curves_for_attention_gradients_and_random():
    um, tok = utterance_model(n=3)
    cfg = RationaleFaithfulnessConfig(max_samples=3, batch_size=2, score_change=False, fractions=(0.5, 1.0))
    result = measure(um, tok, cfg)
    assert result["kind"] == "likelihood" and result["units"] == "utterances" and result["samples"] == 3
    assert set(result["curves"]) == {"attention", "input_x_gradient", "random"}
    deletion = result["curves"]["attention"]["deletion"]
    assert deletion[0] == 0.0 and len(deletion) == len(result["fractions"])
    # removing every utterance is the same input whichever ranking chose them
    assert len({round(c["deletion"][-1], 6) for c in result["curves"].values()}) == 1


def test_a_model_without_cross_attention_is_refused():
    um_args = utterance_model(mode="both")[0]
    um_args.model.graph = None
    with pytest.raises(InputError, match="no cross-attention over utterances"):
        UtteranceModel(um_args.model, um_args.examples, 0)


# --- the CLI, end to end on a tiny trained model ----------------------------------------------------------


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """A tiny model trained in mode both and a predict run of it on 3 dev samples."""
    tmp = tmp_path_factory.mktemp("explain")
    lm_dir = tmp / "lm"
    tiny_lm().save_pretrained(lm_dir)
    tiny_tokenizer().save_pretrained(lm_dir)
    encoder = ["--encoder", "hash:16", "--cache-dir", str(tmp / "cache"), "--out", str(tmp)]
    train = ["--lm", str(lm_dir), "--mode", "both", "--max-train", "4", "--epochs", "1", "--batch-size", "2"]
    assert main(["rationale", "train", *train, "--max-dev", "2", "--max-tokens", "1500", *encoder]) == 0
    model = next(tmp.glob("rationale-train-both-*"))
    predict = ["--method", "lm", "--model", str(model), "--limit", "3", "--max-new-tokens", "8", "--out", str(tmp)]
    assert main(["rationale", "predict", *predict]) == 0
    return tmp, next(tmp.glob("rationale-predict-*"))


def test_explain_writes_numbers_and_curves(predicted, capsys):
    _, run = predicted
    code = main(["rationale", "explain", str(run), "--faithfulness", "--max-samples", "2", "--batch-size", "2"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads((run / "faithfulness.json").read_text())
    assert result["samples"] == 2 and result["mode"] == "both"
    gates = result["gates"]  # a tiny model trained for two steps: its attention gates are still nearly closed
    assert gates["attention_closed"] and "the cross-attention gates are nearly closed" in out
    assert (run / "faithfulness.png").stat().st_size > 1000
    change = result["score_change"]
    assert set(change) >= {"intact", "attention", "random"} and 0.0 <= change["attention"]["rouge_l"] <= 1.0
    assert "attention vs random deletion" in out and "regenerated without the top 10%" in out
    assert main(["report", str(run)]) == 0  # the run's HTML report shows the numbers and the curves
    page = (run / "report.html").read_text()
    assert "Faithfulness of attention" in page and "score_change" in page and "faithfulness.png" in page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "add --faithfulness"),
        (["--faithfulness", "--headline-fraction", "1.5"], "must lie in (0, 1]"),
        (["--faithfulness", "--fractions", "0"], "must lie in (0, 1]"),
    ],
)
def test_explain_bad_options_are_one_line_errors(predicted, capsys, extra, message):
    _, run = predicted
    assert main(["rationale", "explain", str(run), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_explain_refuses_runs_it_cannot_measure(predicted, capsys, tmp_path):
    tmp, _ = predicted
    index = ["--encoder", "hash:16", "--cache-dir", str(tmp / "cache"), "--out", str(tmp_path)]
    assert main(["rationale", "index", *index]) == 0
    knn_index = next(tmp_path.glob("rationale-index-*"))
    assert main(["rationale", "predict", "--index", str(knn_index), "--limit", "2", "--out", str(tmp_path)]) == 0
    knn_run = next(tmp_path.glob("rationale-predict-*"))
    for run, message in ((knn_run, "not a 'rationale predict --method lm' run"), (tmp_path, "config.json")):
        capsys.readouterr()
        assert main(["rationale", "explain", str(run), "--faithfulness"]) == 2
        assert message in capsys.readouterr().err


# --- --device ---------------------------------------------------------------------------------------------

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_explain_on_the_cpu_equals_the_default(predicted):
    _, run = predicted
    argv = ["rationale", "explain", str(run), "--faithfulness", "--max-samples", "2", "--batch-size", "2"]
    argv += ["--no-score-change", "--methods", "attention,random", "--fractions", "0.5,1"]
    results = []
    for extra in ([], ["--device", "cpu"]):
        assert main([*argv, *extra]) == 0
        results.append(json.loads((run / "faithfulness.json").read_text())["curves"])
    assert results[0] == results[1] and results[0]["attention"]["deletion"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_explain_on_cuda_without_cuda_is_one_line(predicted, capsys):
    _, run = predicted
    capsys.readouterr()
    assert main(["rationale", "explain", str(run), "--faithfulness", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA is not available" in err and "\n" not in err


@cuda
def test_the_utterance_model_on_cuda_answers_as_on_the_cpu():
    um, _ = utterance_model()
    x, lengths = (torch.from_numpy(a) for a in um.inputs())
    rows = torch.arange(len(x))
    want = um.forward(x, lengths, rows)
    um.model.to("cuda")
    um.lower = [um._lower(e) for e in um.examples]
    got = um.forward(x, lengths, rows)  # inputs stay on the CPU; the answer comes back there
    for a, b in zip(got, want, strict=True):
        assert a.device.type == "cpu"
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
