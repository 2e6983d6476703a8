"""Hostile input, round 3 (issue 20), rationale track: one line with exit code 2, never a traceback, never a
silently changed value."""

import json

import pytest

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
