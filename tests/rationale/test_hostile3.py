"""Hostile input, round 3 (issue 20), rationale track: one line with exit code 2, never a traceback, never a
silently changed value."""

import json

import pytest

from heedful.cli import main
from heedful.errors import InputError
from heedful.rationale.data.loaders import load_samples

from .conftest import inside_record
from .test_hostile_input import fails, write


def test_a_duplicated_key_is_refused_naming_it(tmp_path, capsys):
    text = json.dumps([inside_record("t1")], ensure_ascii=False)
    text = text.replace('"text": "你好。"', '"text": "你好。", "text": "再见。"')  # the last one would win
    data = write(tmp_path / "d.json", text)
    fails(capsys, ["rationale", "data", "--data", data, "--out", str(tmp_path)], "d.json", "key 'text' appears twice")


def test_a_huge_integer_id_is_one_line(tmp_path, capsys):
    text = json.dumps([inside_record("t1")]).replace('"sample_id": "t1"', '"sample_id": ' + "7" * 5000)
    data = write(tmp_path / "d.json", text)
    fails(capsys, ["rationale", "data", "--data", data, "--out", str(tmp_path)], "d.json", "digits")


@pytest.mark.parametrize("where", ["sample_id", "utt_id"])
@pytest.mark.parametrize("value", [True, 1.5])
def test_a_bool_or_float_id_is_refused(tmp_path, where, value):
    record = inside_record("t1")
    if where == "sample_id":
        record["sample_id"] = value
    else:
        record["utterances"][0]["utt_id"] = value
    with pytest.raises(InputError, match=f"{where} must be (a string or an integer|str/int)"):
        load_samples(write(tmp_path / "d.json", [record]))


def test_an_integer_id_still_loads(tmp_path):
    record = inside_record("t1")
    record["sample_id"], record["utterances"][0]["utt_id"] = 7, 8
    (sample,) = load_samples(write(tmp_path / "d.json", [record])).samples
    assert sample.sample_id == "7" and sample.utterances[0].utt_id == "8"


@pytest.mark.parametrize("layers", ["a,b", "1,,2", "1,1", "-1", ""])
def test_bad_layers_are_one_line(tmp_path, layers, capsys):
    argv = ["rationale", "train", "--layers", layers, "--encoder", "hash:16", "--out", str(tmp_path)]
    fails(capsys, argv, "--layers")
    assert not list(tmp_path.iterdir())  # refused before a run folder exists


@pytest.fixture
def process_run_folder(tmp_path):
    """What a process run's config.json looks like to a reader expecting a rationale LM run."""
    run = tmp_path / "process-table-gru"
    run.mkdir()
    config = {"command": "process train", "task": "table", "model": "gru", "task_params": {}, "model_params": {}}
    (run / "config.json").write_text(json.dumps(config | {"train": {}}))
    return run


def test_a_process_run_given_as_a_rationale_lm_run_is_one_line(process_run_folder, tmp_path, capsys):
    run = str(process_run_folder)
    fails(capsys, ["rationale", "train", "--resume", run], "not a 'rationale train' run folder", "process train")
    argv = ["rationale", "predict", "--method", "lm", "--model", run, "--out", str(tmp_path / "out")]
    fails(capsys, argv, "--model", "not a 'rationale train' run folder")
    fails(capsys, ["serve", "--method", "lm", "--model", run], "not a 'rationale train' run folder")


def _pickled_folder(folder):
    import torch

    from .conftest import tiny_lm

    lm = tiny_lm()
    lm.config.save_pretrained(folder)
    torch.save(lm.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_pickle_weights_are_refused_in_one_line(tmp_path, capsys):
    from heedful.rationale.features.encoders import load_hf_encoder

    folder = _pickled_folder(tmp_path / "lm")
    with pytest.raises(InputError, match="holds its weights as a pickle"):
        load_hf_encoder(folder, "bertscore")
    argv = ["rationale", "predict", "--method", "lm", "--lm", str(folder), "--out", str(tmp_path / "out")]
    fails(capsys, argv, "pytorch_model.bin", "safetensors only")


def test_a_failed_train_leaves_no_empty_run_folder(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["rationale", "train", "--lm", "/etc", "--encoder", "hash:16", "--max-train", "4", "--out", str(out)]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    fails(capsys, argv, "/etc")
    assert not out.exists() or not list(out.iterdir())


def test_an_index_sidecar_does_not_choose_where_features_are_written(tmp_path, capsys):
    root = tmp_path / "built"
    assert main(["rationale", "index", "--encoder", "hash:16", "--cache-dir", str(tmp_path / "mine"),
                 "--out", str(root)]) == 0  # fmt: skip
    (index,) = root.glob("rationale-index-*")
    sidecar = json.loads((index / "index.json").read_text())
    elsewhere = tmp_path / "planted"
    sidecar["meta"]["key"]["cache_dir"] = str(elsewhere)
    (index / "index.json").write_text(json.dumps(sidecar))
    assert main(["rationale", "predict", "--index", str(index), "--out", str(tmp_path / "p")]) == 0
    assert not elsewhere.exists()


def _edited(tmp_path, change):
    record = inside_record("t1")
    change(record)
    return write(tmp_path / "d.json", [record])


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda r: r["utterances"][1].update(speaker="\u200b"), "speaker holds invisible characters"),
        (lambda r: r["utterances"][1].update(speaker="B\u200b"), "speaker holds invisible characters"),
        (lambda r: r["utterances"][1].update(start_sec=2.0, end_sec=1.5), "end_sec 1.5 is before start_sec 2"),
        (lambda r: r["utterances"][0].update(start_sec=-1.0), "start_sec is negative"),
        (lambda r: r.update(sample_id="t1 "), "starts or ends with spaces"),
    ],
)
def test_invisible_speakers_reversed_times_and_spaced_ids_are_refused(tmp_path, change, needle):
    with pytest.raises(InputError, match=needle):
        load_samples(_edited(tmp_path, change))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda r: r["emo_change"].update(start_idx=1, from_emotion=["Anger"]), "starts on B's utterance"),
        (lambda r: r["emo_change"].update(to_emotion=["Happy"]), "to_emotion ['Happy'] is not the label"),
    ],
)
def test_an_unusual_annotated_change_loads_with_one_warning(tmp_path, change, needle, caplog):
    def twice(r):
        r["emo_change"] = {"start_idx": 0, "end_idx": 2, "from_emotion": ["Neutral"], "to_emotion": ["Sad"]}
        change(r)
        second = json.loads(json.dumps(r))
        second["sample_id"], second["video_path"] = "t2", "clips/t2.mp4"
        r["_second"] = second

    record = inside_record("t1")
    twice(record)
    second = record.pop("_second")
    with caplog.at_level("WARNING", logger="heedful.rationale.data.loaders"):
        samples = load_samples(write(tmp_path / "d.json", [record, second])).samples
    assert len(samples) == 2
    (message,) = [r.getMessage() for r in caplog.records]
    assert "2 sample(s) with an unusual emotion change" in message and needle in message


def test_a_graph_size_edited_in_an_lm_run_is_checked_against_its_weights_first(tmp_path, capsys):
    import torch

    from heedful.checkpoint import save_tensors
    from heedful.rationale.graph.encoder import ChangeGraphEncoder, GraphConfig

    run = tmp_path / "rationale-train-xattn"
    run.mkdir()
    graph = ChangeGraphEncoder(GraphConfig(hidden=16, text_dim=16))
    save_tensors(run / "adapter.safetensors", {f"graph.{k}": v for k, v in graph.state_dict().items()})
    config = {"model": {"mode": "xattn", "graph": {"hidden": 10**6, "text_dim": 16}}}
    (run / "config.json").write_text(json.dumps(config))
    argv = ["rationale", "predict", "--method", "lm", "--model", str(run), "--out", str(tmp_path / "out")]
    fails(capsys, argv, "config.json", "model.graph does not fit")
    assert torch.get_default_device().type == "cpu"
