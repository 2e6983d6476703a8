"""The ``table`` task on a pandas DataFrame, and the estimators over the CLI's code (tiny models)."""

import numpy as np
import pandas as pd
import pytest

from heedful.errors import InputError
from heedful.process import ModelConfig, SequenceClassifier, SequenceRegressor, TrainConfig
from heedful.process.runner import load_trained, predict_csv
from heedful.process.tasks import build_task

TINY = {"model_config": ModelConfig(hidden_size=4), "train_config": TrainConfig(epochs=1, batch_size=16)}


def batch_frame(i: int, steps: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(i)
    phase = np.where(np.arange(steps) < 8, "heat", np.where(np.arange(steps) < 16, "react", "cool"))
    a = 1.0 + (i % 3) + (phase == "react") * 3.0 + rng.normal(0, 0.1, steps)
    b = np.cumsum(rng.normal(0, 0.1, steps)) - (phase == "cool") * 2.0
    return pd.DataFrame({"time": np.arange(steps) * 2.0, "a": a, "b": b, "phase": phase, "yield": 10.0 * (i % 3) + i})


@pytest.fixture(scope="module")
def table():
    return pd.concat([batch_frame(i).assign(batch=f"B{i}") for i in range(8)], ignore_index=True)


PARAMS = {"time_column": "time", "inputs": "a,b", "target_column": "phase", "batch_column": "batch", "window": 6}


def test_a_dataframe_builds_what_its_csv_builds(table, tmp_path):
    table.to_csv(tmp_path / "all.csv", index=False)
    from_frame = build_task("table", path=table, **PARAMS)
    from_file = build_task("table", path=str(tmp_path / "all.csv"), **PARAMS)
    for split in ("train", "val", "test"):
        a, b = getattr(from_frame, split), getattr(from_file, split)
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y) and np.array_equal(a.run, b.run)
    assert from_frame.class_names == from_file.class_names and from_frame.params["path"] == "<DataFrame>"


def test_a_dataframe_is_refused_like_its_csv(table, tmp_path):
    bad = table.drop(columns=["b"])
    bad.to_csv(tmp_path / "all.csv", index=False)
    with pytest.raises(InputError) as frame_err:
        build_task("table", path=bad, **PARAMS)
    with pytest.raises(InputError) as file_err:
        build_task("table", path=str(tmp_path / "all.csv"), **PARAMS)
    assert str(frame_err.value).replace("<DataFrame>", "F") == str(file_err.value).replace(
        str(tmp_path / "all.csv"), "F"
    )
    assert "column 'b' named by the schema is not there" in str(frame_err.value)
    twice = pd.concat([table, table[["a"]]], axis=1)  # two columns named a
    with pytest.raises(InputError, match=r"names \['a'\] more than once"):
        build_task("table", path=twice, **PARAMS)


@pytest.fixture(scope="module")
def fitted(table, tmp_path_factory):
    return SequenceClassifier("bigru_attn", out=tmp_path_factory.mktemp("runs"), **TINY).fit(table, **PARAMS)


def test_classifier_predicts_what_the_cli_predicts(fitted, tmp_path):
    new = batch_frame(40)
    pred = fitted.predict(new)
    assert pred.shape == (24 - 6 + 1,) and set(pred) <= set(fitted.classes_)
    new.to_csv(tmp_path / "new.csv", index=False)
    spec, model, _ = load_trained(fitted.run_dir_)
    assert list(pred) == predict_csv(spec, model, tmp_path / "new.csv")["predictions"]
    assert list(fitted.predict(new[["b", "time", "a"]])) == list(pred)  # columns by name
    assert list(fitted.predict(new[["a", "b"]].to_numpy())) == list(pred)  # an array: columns in order
    proba = fitted.predict_proba(new)
    assert proba.shape == (len(pred), 3) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    assert [fitted.classes_[i] for i in proba.argmax(1)] == list(pred)


def test_classifier_saves_loads_and_explains(fitted, tmp_path):
    new = batch_frame(41)
    folder = fitted.save(tmp_path / "model")
    again = SequenceClassifier.load(folder)
    assert list(again.predict(new)) == list(fitted.predict(new))
    assert np.array_equal(again.predict_proba(new), fitted.predict_proba(new))
    with pytest.raises(InputError, match="already exists"):
        fitted.save(folder)
    summary = again.explain(new, tmp_path / "x.png")
    assert summary["windows"] == 19 and (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InputError, match="open it with SequenceClassifier"):
        SequenceRegressor.load(folder)


def test_bad_values_are_refused_like_a_csv(fitted):
    new = batch_frame(42)
    with pytest.raises(InputError, match=r"header lacks the columns \['b'\]"):
        fitted.predict(new.drop(columns=["b"]))
    with pytest.raises(InputError, match=r"expected \(steps, 2\)"):
        fitted.predict(np.zeros((24, 3)))
    new.loc[3, "a"] = np.inf
    with pytest.raises(InputError, match="non-finite values in channel 'a' at rows 3"):
        fitted.predict(new)
    with pytest.raises(InputError, match="not fitted yet"):
        SequenceClassifier().predict(new)


def test_regressor_on_whole_batches(table, tmp_path):
    params = {**PARAMS, "target_column": "yield", "target_kind": "batch_value", "window": 0}
    reg = SequenceRegressor("gru", out=tmp_path, **TINY).fit(table, **params)
    pred = reg.predict(batch_frame(43))
    assert pred.shape == (1,) and np.isfinite(pred).all()  # one value of the one target
    with pytest.raises(InputError, match="open it with SequenceRegressor"):
        SequenceClassifier.load(reg.run_dir_)
