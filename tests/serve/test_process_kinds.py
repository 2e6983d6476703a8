"""Every process task kind through the service's model wrapper, against ``heedful.process.train.predict``: classes
per step, values in target units, Seq2Seq attention per output step. Toy task data, untrained models."""

import numpy as np
import pytest
import torch

from heedful.process.data import Split, TaskData
from heedful.process.models import build_model
from heedful.process.train import predict
from heedful.process.windows import Scaler
from heedful.serve.models import ProcessModel


def toy_data(kind: str) -> TaskData:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 8, 3)).astype(np.float32)
    y = {
        "sequence_classification": np.zeros((6, 8), np.int64),
        "regression": np.zeros((6, 2), np.float32),
        "sequence_regression": np.zeros((6, 8, 2), np.float32),
        "forecast": np.zeros((6, 4, 2), np.float32),
    }[kind]
    split = Split(x, y, np.zeros(6, int), np.full(6, 8))
    classes = ["a", "b", "c"] if "classification" in kind else []
    targets = [] if classes else ["v0", "v2"]
    scaler = Scaler(np.array([1.0, 2.0, 3.0], np.float32), np.array([2.0, 0.5, 1.0], np.float32))
    target_scaler = Scaler(np.array([10.0, -1.0], np.float32), np.array([3.0, 0.1], np.float32)) if targets else None
    name = {  # registered tasks of each kind: the wrapper scales through the task
        "sequence_classification": "pen_phase",
        "regression": "pen_endtime",
        "sequence_regression": "pen_softsensor",
        "forecast": "pen_forecast",
    }[kind]
    params = {"history": 8} if kind == "forecast" else {}
    return TaskData(
        name, kind, split, split, split, classes, ["v0", "v1", "v2"], scaler, params, targets, target_scaler
    )


@pytest.mark.parametrize(
    ("kind", "model_name"),
    [
        ("sequence_classification", "gru"),
        ("regression", "bigru_attn"),
        ("sequence_regression", "gru"),
        ("forecast", "seq2seq_attn"),
    ],
)
def test_each_kind_answers_like_the_library(kind, model_name):
    data = toy_data(kind)
    torch.manual_seed(0)
    model = build_model(model_name, data, hidden_size=4).eval()
    pm = ProcessModel(data, model, {"model": model_name}, "toy")
    raw = np.random.default_rng(1).normal(size=(3, 8, 3)) * 2 + 1
    answers = pm.predict(list(raw))
    want, attention = predict(model, np.stack([pm.scaled(w) for w in raw]), kind=kind)
    for i, answer in enumerate(answers):
        if kind == "sequence_classification":
            assert answer["classes"] == [data.class_names[c] for c in want[i]]
            assert np.allclose(np.sum(answer["probabilities"], -1), 1, atol=1e-5)
        else:
            real = want[i] * data.target_scaler.scale + data.target_scaler.mean
            assert np.allclose(answer["values"], real, atol=1e-4)
        if attention is None:
            assert answer["attention"] is None
        else:
            assert np.allclose(answer["attention"], attention[i], atol=1e-5)
    if kind == "forecast":
        assert pm.window_length == 8 and np.asarray(answers[0]["attention"]).shape == (4, 8)  # output x input steps
    assert pm.describe()["targets" if data.target_names else "classes"]


def test_windows_of_different_lengths_each_go_through_unpadded():
    data = toy_data("regression")
    model = build_model("gru_attn", data, hidden_size=4).eval()
    pm = ProcessModel(data, model, {}, "toy")
    rng = np.random.default_rng(2)
    short, long = rng.normal(size=(5, 3)), rng.normal(size=(9, 3))
    together = pm.predict([short, long, short])
    assert together[0] == together[2] == pm.predict([short])[0] and together[1] == pm.predict([long])[0]
    assert len(together[1]["attention"]) == 9


def test_pen_repair_is_not_served():
    from heedful.errors import InputError

    data = toy_data("sequence_regression")
    data.name = "pen_repair"
    with pytest.raises(InputError, match="not served"):
        ProcessModel(data, build_model("gru", data, hidden_size=4), {}, "toy")
