"""Property-based tests: arbitrary CSV cells and flag values give a valid output or the one-line error with exit
code 2 — never a traceback, never NaN in an output file."""

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heedful.cli import main
from heedful.errors import InputError
from heedful.process.apply import _checked_values, _numbers_only, clean, read_values
from heedful.process.names import TASKS
from heedful.process.sources import tep

NAMES = ["a", "b", "c"]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr)
cells = st.one_of(
    numbers, st.sampled_from(["", "nan", "inf", "-inf", "1e300", "-1e39", "3.4e38", "x", '"1"']), st.text(max_size=6)
)
headers = st.one_of(
    st.none(), st.permutations(NAMES).map(list), st.lists(st.sampled_from([*NAMES, "A", "d"]), min_size=3, max_size=3)
)


def _csv(header, rows) -> str:
    lines = [",".join(header)] if header else []
    return "\n".join(lines + [",".join(r) for r in rows]) + "\n"


@FAST
@given(headers, st.lists(st.lists(cells, min_size=2, max_size=4), max_size=5), st.booleans())
def test_read_values_gives_finite_float32_or_one_input_error(header, rows, impute):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.csv"
        try:
            path.write_text(_csv(header, rows), encoding="utf-8")
        except UnicodeEncodeError:
            return
        try:
            values = clean(read_values(path, NAMES), NAMES, str(path), "ffill" if impute else None)
        except InputError as err:
            assert "\n" not in str(err)
            return
    assert values.dtype == np.float32 and values.shape[1] == 3 and len(values) >= 1
    assert np.isfinite(values).all()


number_cells = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True, width=64).map(repr),
    st.floats(-1e6, 1e6).map(lambda v: f"{v:.6g}"),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from([" 1.5", "2.5 ", "1E5", "inf", "-Infinity", "1_0", "nan", "NaN", "", "  ", "x", '"3"', ".5"]),
)


@settings(max_examples=200, deadline=None)
@given(
    headers,
    st.lists(st.lists(number_cells, min_size=3, max_size=4), min_size=0, max_size=6),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_pandas_reads_exactly_what_the_checking_reader_reads(header, rows, newline, blank_lines):
    """``parse_values`` hands a file of numbers to pandas: whenever pandas takes it, the values are bit for bit those
    of the cell-by-cell reader that every other file goes through (same rows, same floats)."""
    lines = [",".join(header)] if header else []
    lines += [",".join(r) for r in rows]
    if blank_lines:
        lines = ["", *lines[:1], "  ", *lines[1:]]
    text = newline.join(lines) + newline
    fast = _numbers_only(text, NAMES)
    if fast is None:
        return
    np.testing.assert_array_equal(fast, _checked_values(text, NAMES, "t"))
    assert fast.dtype == np.float64 and fast.shape[1] == 3


def test_which_files_take_the_pandas_path():
    assert _numbers_only("c,a,b,extra\n3,1,2,9\n6,4,5,9\n", NAMES).tolist() == [[1, 2, 3], [4, 5, 6]]
    assert _numbers_only("\n1,2,3\n  \n4,5,6e1\n", NAMES).tolist() == [[1, 2, 3], [4, 5, 60]]
    for odd in ("1,,3\n", "1,nan,3\n", "1,2,3\n4,5\n", "1,2,3\n4,5,6,7\n", "1,2\n", "a,b\n1,2\n", "1,2,x\n", "a,b,c\n"):
        assert _numbers_only(odd, NAMES) is None, odd


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in an output file")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def base_values():
    return tep.load_run(2, "test").values[150:175].astype(np.float64)


@SLOW
@given(
    st.lists(st.tuples(st.integers(0, 24), st.integers(0, 51), cells), max_size=4),
    st.sampled_from(["keep", "none", "shuffle", "misspell"]),
)
def test_predict_cli_on_arbitrary_cells(tep_run, base_values, capsys, edits, header_kind):
    rows = [[repr(float(v)) for v in row] for row in base_values]
    for r, c, cell in edits:
        rows[r][c] = cell.replace(",", ";").replace("\n", " ").replace("\r", " ")
    names = list(tep.VARIABLE_NAMES)
    order = np.random.default_rng(len(edits)).permutation(52) if header_kind in ("shuffle", "misspell") else range(52)
    header = [names[i] for i in order]
    rows = [[row[i] for i in order] for row in rows]
    if header_kind == "misspell":
        header[0] = header[0] + "x"
    with tempfile.TemporaryDirectory() as tmp:
        csv, out = Path(tmp) / "b.csv", Path(tmp) / "p.json"
        try:
            csv.write_text(_csv(None if header_kind == "none" else header, rows), encoding="utf-8")
        except UnicodeEncodeError:
            return
        code = main(["process", "predict", str(tep_run), "--csv", str(csv), "--out", str(out)])
        captured = capsys.readouterr()
        if code == 0:
            result = _strict(out.read_text())
            assert result["predictions"] and all(isinstance(p, str) for p in result["predictions"])
        else:
            assert code == 2 and (header_kind == "misspell" or edits), captured.err
            err = captured.err.strip()
            assert err.startswith("heedful: error:") and "\n" not in err and not out.exists()


class Reached(Exception):
    """train_run was called: the flags made valid configs."""


def _number_text():
    return st.one_of(
        st.integers(-5, 300).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["", "nan", "inf", "1e400", "abc", "2.5", "0", "-1", "0,1,1", "0,3", "all", ","]),
    )


FLAGS = ["window", "epochs", "lr", "clip", "faults", "batch-size", "dropout", "batches", "every", "threshold", "set"]


@FAST
@given(st.sampled_from(TASKS), st.dictionaries(st.sampled_from(FLAGS), _number_text(), max_size=3))
def test_train_flags_give_valid_configs_or_one_line(monkeypatch, capsys, task, flags):
    import heedful.process.runner as runner

    seen = {}

    plan_run = runner.plan_run

    def fake_train_run(task, model, task_params, model_params, train, out, resume, progress=True):
        plan = plan_run(task, task_params, model_params, train, resume)  # the configs train_run would use
        seen.update(task=plan.task_cfg, model=plan.model_cfg, train=plan.train_cfg)
        raise Reached

    monkeypatch.setattr(runner, "train_run", fake_train_run)
    argv = ["process", "train", "--task", task]
    for key, value in flags.items():
        argv.append(f"--set=threshold={value}" if key == "set" else f"--{key}={value}")
    try:
        code = main(argv)
    except Reached:
        for cfg in seen.values():
            for value in vars(cfg).values():
                for v in value if isinstance(value, tuple) else (value,):
                    assert not isinstance(v, float) or math.isfinite(v)
        return
    except SystemExit as exit_:  # argparse: a value its type refuses
        assert exit_.code == 2 and "error:" in capsys.readouterr().err
        return
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("heedful: error:") and "\n" not in err, err
