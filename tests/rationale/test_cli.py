import json
import subprocess
import sys

import numpy as np
import pytest

from heedful.cli import main
from heedful.rationale import load_demo, sample_to_dict

from .conftest import inside_record


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "heedful", *args], capture_output=True, text=True, timeout=120)


def write(tmp_path, name, obj) -> str:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return str(path)


NO_APPRAISAL = {"stimulus": {"textual": "x"}, "response": "y"}
OUT_OF_RANGE = {"start_idx": 0, "end_idx": 9, "from_emotion": ["Neutral"], "to_emotion": ["Sad"]}
BAD = [
    ("malformed.json", '[{"sample_id": "a"', "malformed JSON at line 1"),
    ("missing.json", [inside_record("m1", rationale=NO_APPRAISAL)], "sample m1: missing field rationale.appraisal"),
    ("empty.json", [inside_record("e1", utterances=[])], "sample e1: utterances: empty dialogue"),
    (
        "range.json",
        [inside_record("r1", emo_change=OUT_OF_RANGE)],
        "sample r1: emo_change.end_idx: 9 out of range for 3 utterances",
    ),
    (
        "label.json",
        [{"sample_id": "l1", "dialogue": "A [Neutral]: 你好\nB [Happpy]: 好"}],
        "sample l1: dialogue line 2 emotion: unknown emotion 'Happpy'",
    ),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, name, content, message):
    path = write(tmp_path, name, content)
    code = main(
        ["rationale", "index", "--data", path, "--split", "all", "--encoder", "hash:16", "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err
    assert err.startswith("heedful: error: ")


def test_error_from_a_subprocess_has_no_traceback(tmp_path):
    result = run_cli("rationale", "evaluate", str(tmp_path / "absent.json"), "--out", str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"heedful: error: no predictions file {tmp_path / 'absent.json'}"]


def test_skip_invalid_reports_and_goes_on(tmp_path, capsys):
    good = [sample_to_dict(s) for s in load_demo()[:6]]
    bad = inside_record("broken", utterances=[])
    path = write(tmp_path, "batch.json", [*good, bad])
    args = ["rationale", "index", "--data", path, "--split", "all", "--encoder", "hash:16", "--out", str(tmp_path)]
    assert main(args) == 2
    capsys.readouterr()
    assert main([*args, "--skip-invalid", "--cache-dir", str(tmp_path / "cache")]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 invalid sample(s)" in captured.err and "sample broken: utterances: empty dialogue" in captured.err
    (run_dir,) = [p for p in tmp_path.glob("rationale-index-*") if (p / "index.faiss").exists()]
    assert json.loads((run_dir / "invalid.json").read_text()) == ["sample broken: utterances: empty dialogue"]
    assert len(json.loads((run_dir / "index.json").read_text())["ids"]) == 6


def test_mismatched_feature_dimensions_name_the_sample(tmp_path, capsys):
    out = str(tmp_path)
    common = ["--encoder", "hash:16", "--cache-dir", str(tmp_path / "cache"), "--out", out]
    assert main(["rationale", "pretrain", "--epochs", "1", "--hidden", "16", *common]) == 0
    (graph,) = tmp_path.glob("rationale-pretrain-*")
    samples = load_demo()
    np.savez(tmp_path / "feats.npz", **{s.sample_id: np.ones((len(s.utterances), 8)) for s in samples})
    capsys.readouterr()
    features = ["--features", str(tmp_path / "feats.npz")]
    code = main(["rationale", "index", "--key", "hchange", "--graph", str(graph), *features, *common])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "text features have shape" in err and "expected" in err and err.startswith("heedful: error: sample demo_")


def test_end_to_end_on_the_demo_set(tmp_path, capsys):
    out, cache = str(tmp_path / "runs"), str(tmp_path / "cache")
    common = ["--encoder", "hash:32", "--cache-dir", cache, "--out", out]
    assert main(["rationale", "pretrain", "--epochs", "3", "--hidden", "32", *common]) == 0
    (graph,) = (tmp_path / "runs").glob("rationale-pretrain-*")
    assert {"graph.safetensors", "graph.json", "metrics.json", "config.json"} <= {p.name for p in graph.iterdir()}
    assert main(["rationale", "index", "--key", "hchange", "--graph", str(graph), *common]) == 0
    assert main(["rationale", "index", "--key", "text", *common]) == 0
    indexes = sorted((tmp_path / "runs").glob("rationale-index-*"))
    for index in indexes:
        config = json.loads((index / "config.json").read_text())
        assert config["command"] == "rationale index" and config["data"]["split"] == "train"
        assert main(["rationale", "predict", "--method", "knn", "--index", str(index), "--out", out]) == 0
    predictions = sorted((tmp_path / "runs").glob("rationale-predict-*"))
    assert len(predictions) == 2
    preds = json.loads((predictions[0] / "predictions.json").read_text())
    dev_ids = {p["sample_id"] for p in preds}
    train_ids = set(json.loads((indexes[0] / "index.json").read_text())["ids"])
    assert dev_ids and dev_ids.isdisjoint(train_ids)
    assert all(p["text"].endswith("。") and p["neighbours"][0]["sample_id"] in train_ids for p in preds)
    capsys.readouterr()
    assert main(["rationale", "evaluate", str(predictions[0]), "--out", out]) == 0
    assert "rouge_l" in capsys.readouterr().out
    (evaluation,) = (tmp_path / "runs").glob("rationale-evaluate-*")
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert metrics["n"] == len(preds) and 0 < metrics["rouge_l"] < 1
    # training-time retrieval over the index's own split: never the sample itself nor its clip
    index_items = json.loads((indexes[0] / "index.json").read_text())
    clip_of = dict(zip(index_items["ids"], index_items["clips"], strict=True))
    assert main(["rationale", "retrieve", "--index", str(indexes[0]), "--split", "train", "-k", "3", "--out", out]) == 0
    (retrieval,) = (tmp_path / "runs").glob("rationale-retrieve-*")
    rows = json.loads((retrieval / "retrievals.json").read_text())
    for row in rows:
        assert len(row["neighbours"]) == 3 and row["prompt"].startswith("Context:\n")
        assert all(clip_of[n["sample_id"]] != clip_of[row["sample_id"]] for n in row["neighbours"])


def test_rationale_help_lists_the_commands():
    result = run_cli("rationale", "--help")
    assert result.returncode == 0
    for command in ("pretrain", "index", "retrieve", "predict", "evaluate"):
        assert command in result.stdout


def test_research_data_through_the_cli(mecr, tmp_path, capsys):
    """index → predict → evaluate on the clip-disjoint split of the research data (model-free encoder)."""
    data, out = str(mecr / "train.json"), str(tmp_path)
    common = ["--data", data, "--encoder", "hash:64", "--cache-dir", str(tmp_path / "cache"), "--out", out]
    assert main(["rationale", "index", *common]) == 0
    (index,) = tmp_path.glob("rationale-index-*")
    assert main(["rationale", "predict", "--index", str(index), "--data", data, "--out", out]) == 0
    (run,) = tmp_path.glob("rationale-predict-*")
    preds = json.loads((run / "predictions.json").read_text())
    sidecar = json.loads((index / "index.json").read_text())
    assert len(preds) + len(sidecar["ids"]) == 2892
    assert {p["sample_id"] for p in preds}.isdisjoint(sidecar["ids"])
    capsys.readouterr()
    assert main(["rationale", "evaluate", str(run), "--data", data, "--out", out]) == 0
    (evaluation,) = tmp_path.glob("rationale-evaluate-*")
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert metrics["n"] == len(preds) and 0.2 < metrics["rouge_l"] < 0.35


def test_flag_defaults_come_from_the_configs():
    """Each command's flags are generated from its configs: parsed without flags, they give the dataclass defaults."""
    from heedful.cli import build_parser
    from heedful.cli.flags import config_from_args
    from heedful.rationale.data.config import DataConfig
    from heedful.rationale.eval.score import EvalConfig
    from heedful.rationale.graph.config import ContrastiveConfig, GraphConfig
    from heedful.rationale.retrieval.config import KeyConfig, KnnConfig, QueryConfig

    parser = build_parser()

    def parsed(*argv):
        return parser.parse_args(["rationale", *argv])

    args = parsed("pretrain")
    assert config_from_args(GraphConfig, args, text_dim=384) == GraphConfig()
    assert config_from_args(ContrastiveConfig, args, seed=args.seed) == ContrastiveConfig()
    assert config_from_args(DataConfig, args) == DataConfig(split="train")
    assert config_from_args(KeyConfig, parsed("index")) == KeyConfig()
    assert config_from_args(QueryConfig, parsed("retrieve", "--index", "x")) == QueryConfig()
    assert config_from_args(KnnConfig, parsed("predict")) == KnnConfig()
    assert config_from_args(EvalConfig, parsed("evaluate", "p.json")) == EvalConfig()
    assert config_from_args(DataConfig, parsed("data")) == DataConfig()
    args = parsed("pretrain", "--hidden", "32", "--heads", "2", "--temperature", "0.1", "--no-skip-invalid")
    graph, contrastive = config_from_args(GraphConfig, args, text_dim=8), config_from_args(ContrastiveConfig, args)
    assert (graph.hidden, graph.heads, graph.text_dim, contrastive.temperature) == (32, 2, 8, 0.1)
    knn = config_from_args(KnnConfig, parsed("predict", "-k", "4", "--no-relabel", "--keep-clip"))
    assert knn == KnnConfig(k=4, keep_clip=True, relabel=False)


def _configs():
    from heedful.rationale.data.config import DataConfig
    from heedful.rationale.graph.config import ContrastiveConfig, GraphConfig
    from heedful.rationale.retrieval.config import KeyConfig, KnnConfig, QueryConfig

    return {c.__name__: c for c in (DataConfig, GraphConfig, ContrastiveConfig, KeyConfig, QueryConfig, KnnConfig)}


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("GraphConfig", {"hidden": True}, "graph hidden must be an integer"),
        ("GraphConfig", {"dropout": "0.1"}, "graph dropout must be a number"),
        ("ContrastiveConfig", {"epochs": 1.5}, "epochs must be an integer"),
        ("ContrastiveConfig", {"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ("KeyConfig", {"encoder": None}, "key encoder must be a string"),
        ("QueryConfig", {"k": 0}, "k must be an integer >= 1"),
        ("KnnConfig", {"k": True}, "k must be an integer >= 1"),
        ("DataConfig", {"data": 3}, "data must be a string or null, got 3"),
    ],
)
def test_configs_refuse_mistyped_values(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _configs()[name](**kwargs)
