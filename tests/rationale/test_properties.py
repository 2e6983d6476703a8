"""Property-based tests: the rationale loaders and CLI entry points on arbitrary JSON, files and flag values.

Every run ends in valid output or the one-line error with exit code 2 (argparse's own refusals: its usage line and
one error line, exit code 2): never a traceback, never NaN in an output file. Examples are few and models are
avoided (``--encoder hash:8``) so that the whole file runs in seconds."""

import contextlib
import copy
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heedful.cli import main
from heedful.errors import InputError
from heedful.rationale import EMOTIONS, load_demo, load_samples, parse_samples, sample_to_dict

from .conftest import inside_record

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
emotions = st.lists(st.sampled_from([*EMOTIONS, "Happpy", ""]), max_size=3)

EXPLICIT = {"start_idx": 0, "end_idx": 2, "from_emotion": ["Neutral"], "to_emotion": ["Sad"]}
PATHS = [
    ("sample_id",),
    ("utterances",),
    ("utterances", 0),
    ("utterances", 1, "emotion"),
    ("utterances", 1, "emotion", 0),
    ("utterances", 2, "text"),
    ("utterances", 0, "speaker"),
    ("utterances", 1, "start_sec"),
    ("utterances", 2, "utt_id"),
    ("emo_change",),
    ("emo_change", "start_idx"),
    ("emo_change", "end_idx"),
    ("emo_change", "to_emotion"),
    ("rationale",),
    ("rationale", "stimulus"),
    ("rationale", "stimulus", "textual"),
    ("rationale", "stimulus", "visual"),
    ("rationale", "appraisal"),
    ("key_frames",),
    ("video_path",),
]


@st.composite
def inside_records(draw):
    """A valid INSIDE record with a few fields replaced by arbitrary JSON (or deleted)."""
    rec = inside_record(draw(st.text(min_size=1, max_size=8) | st.integers()))
    if draw(st.booleans()):
        rec["emo_change"] = copy.deepcopy(EXPLICIT)
    for path in draw(st.lists(st.sampled_from(PATHS), max_size=3)):
        parent = rec
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values | emotions)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier replacement removed this path
    return rec


@st.composite
def flat_records(draw):
    lines = draw(st.lists(st.tuples(st.sampled_from(["A", "B", "", "A:"]), emotions, st.text(max_size=10)), max_size=4))
    dialogue = "\n".join(f"{s} [{','.join(e)}]: {t}" for s, e, t in lines)
    rec = {"dialogue": draw(st.just(dialogue) | st.text(max_size=30) | json_values)}
    if draw(st.booleans()):
        rec["rationale"] = draw(json_values | st.just(inside_record()["rationale"]))
    return rec


records = st.lists(inside_records() | flat_records() | json_values, max_size=4)


def assert_strict_json(obj) -> None:
    json.dumps(obj, allow_nan=False, ensure_ascii=False)  # raises on NaN / inf


@FAST
@given(items=records | json_values, skip=st.booleans())
def test_parse_samples_gives_samples_or_an_input_error(items, skip):
    try:
        result = parse_samples(items, skip_invalid=skip)
    except InputError as err:
        assert "\n" not in str(err)
        return
    ids = [s.sample_id for s in result.samples]
    assert len(ids) == len(set(ids)) and all("\n" not in e for e in result.errors)
    for sample in result.samples:
        record = sample_to_dict(sample)
        assert_strict_json(record)
        (back,) = parse_samples([json.loads(json.dumps(record))]).samples  # written out, it loads again
        assert sample_to_dict(back) == record


@FAST
@given(content=st.binary(max_size=200) | records.map(lambda r: json.dumps(r).encode()), skip=st.booleans())
def test_load_samples_on_arbitrary_files(content, skip):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.json"
        path.write_bytes(content)
        try:
            load_samples(path, skip_invalid=skip)
        except InputError as err:
            assert str(path) in str(err) or str(err).startswith("sample ")


def test_deep_nesting_is_an_input_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"a":' * 50_000 + "1" + "}" * 50_000)
    with pytest.raises(InputError, match="nested too deeply"):
        load_samples(path)


def run(argv) -> tuple[int, str]:
    """Exit code and stderr of the CLI, argparse's exits included."""
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, err.getvalue()


def refuse_constant(name: str):
    raise AssertionError(f"{name} in an output file")


def check_outcome(code: int, err: str, out: Path) -> None:
    lines = err.strip().splitlines()
    if code == 0:
        for path in out.glob("rationale-*/*.json"):
            json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse_constant)
        return
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in lines if not line.startswith(("heedful: skipped", "  sample"))]
    if errors[-1].startswith("heedful: error: "):
        assert len(errors) == 1, err  # our one line
    else:
        assert "error: argument" in errors[-1] or "error: unrecognized" in errors[-1], err  # argparse


flag_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | st.sampled_from(
    ["nan", "inf", "-1", "0", "1e9", "0.5", "3", "all", "dev", "train", "hash:8", "hash:0", "hash:99999999"]
)


@CLI
@given(
    data=records,
    split=st.sampled_from(["all", "train", "dev"]) | flag_text,
    dev_fraction=flag_text,
    seed=flag_text,
    skip=st.booleans(),
)
def test_cli_data_on_arbitrary_files_and_flags(data, split, dev_fraction, seed, skip):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        argv = ["rationale", "data", "--data", str(path), "--split", split, "--dev-fraction", dev_fraction]
        argv += ["--split-seed", seed, "--out", tmp] + (["--skip-invalid"] if skip else [])
        code, err = run(argv)
        check_outcome(code, err, Path(tmp))


@CLI
@given(data=records, encoder=st.sampled_from(["hash:8"]) | flag_text, skip=st.booleans())
def test_cli_index_on_arbitrary_files_and_flags(data, encoder, skip):
    demo = [sample_to_dict(s) for s in load_demo()[:4]]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.json"
        path.write_text(json.dumps(demo + data), encoding="utf-8")
        argv = ["rationale", "index", "--data", str(path), "--split", "all", "--encoder", encoder]
        argv += ["--cache-dir", str(Path(tmp) / "cache"), "--out", tmp] + (["--skip-invalid"] if skip else [])
        code, err = run(argv)
        check_outcome(code, err, Path(tmp))


demo_ids = [s.sample_id for s in load_demo()]
predictions = st.lists(
    st.fixed_dictionaries(
        {"sample_id": st.sampled_from(demo_ids) | json_values, "text": st.text(max_size=20) | json_values}
    )
    | json_values,
    max_size=5,
)


@CLI
@given(preds=predictions | json_values, data=st.none() | records)
def test_cli_evaluate_on_arbitrary_predictions_and_references(preds, data):
    with tempfile.TemporaryDirectory() as tmp:
        pred_path = Path(tmp) / "predictions.json"
        pred_path.write_text(json.dumps(preds), encoding="utf-8")
        argv = ["rationale", "evaluate", str(pred_path), "--out", tmp]
        if data is not None:
            data_path = Path(tmp) / "refs.json"
            data_path.write_text(json.dumps([sample_to_dict(s) for s in load_demo()[:6]] + data), encoding="utf-8")
            argv += ["--data", str(data_path), "--skip-invalid"]
        code, err = run(argv)
        check_outcome(code, err, Path(tmp))


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("index")
    argv = ["rationale", "index", "--encoder", "hash:8", "--cache-dir", str(root / "cache"), "--out", str(root)]
    assert main(argv) == 0
    (folder,) = root.glob("rationale-index-*")
    return folder


SIDECAR_PATHS = [
    ("meta",), ("meta", "key"), ("meta", "key", "encoder"), ("meta", "key", "key"), ("meta", "key", "cache_dir"),
    ("meta", "source"), ("ids",), ("ids", 0), ("clips",), ("clips", 0), ("dim",), ("count",), ("checksum",),
]  # fmt: skip
ITEM_PATHS = [(), ("rationale",), ("rationale", "stimulus"), ("rationale", "appraisal"), ("roles",), ("roles", 0)]


def mutate(obj, path, draw):
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()) and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = draw(json_values)


@CLI
@given(st.data())
def test_cli_predict_on_edited_index_folders(index_folder, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        shutil.copytree(index_folder, folder)
        sidecar = json.loads((folder / "index.json").read_text())
        items = json.loads((folder / "items.json").read_text())
        for path in data.draw(st.lists(st.sampled_from(SIDECAR_PATHS), max_size=2)):
            with contextlib.suppress(KeyError, IndexError, TypeError):  # an earlier edit removed the path
                mutate(sidecar, path, data.draw)
        sid = data.draw(st.sampled_from(sorted(items)))
        for path in data.draw(st.lists(st.sampled_from(ITEM_PATHS), max_size=2)):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                mutate(items, (sid, *path), data.draw)
        (folder / "index.json").write_text(json.dumps(sidecar))
        (folder / "items.json").write_text(json.dumps(items))
        code, err = run(["rationale", "predict", "--index", str(folder), "--out", tmp])
        check_outcome(code, err, Path(tmp))
