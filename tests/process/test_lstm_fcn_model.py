"""LSTM-FCN as a process model choice (``build_model('lstm_fcn', data)``); its maths is in tests/sequence."""

import numpy as np
import pytest
import torch

from heedful.errors import InputError
from heedful.process import ModelConfig, TrainConfig, build_model, fit, predict
from heedful.process.names import NEURAL_MODELS
from heedful.sequence import LSTMFCN


def test_lstm_fcn_is_built_from_the_task_and_trains(small_tep):
    assert "lstm_fcn" in NEURAL_MODELS
    torch.manual_seed(0)
    model = build_model("lstm_fcn", small_tep, ModelConfig(hidden_size=8))
    assert isinstance(model, LSTMFCN) and model.out.out_features == small_tep.n_classes
    assert model.blocks[0].conv.in_channels == small_tep.n_features
    result = fit(model, small_tep.train, small_tep.val, TrainConfig(epochs=1, batch_size=128), progress=False)
    pred, attention = predict(model, small_tep.test.x[:50])
    assert result.epochs_run == 1 and pred.shape == (50,) and attention is None
    assert np.isin(pred, np.arange(small_tep.n_classes)).all()


def test_lstm_fcn_refuses_what_it_cannot_do(small_tep):
    with pytest.raises(InputError, match="one LSTM layer"):
        build_model("lstm_fcn", small_tep, ModelConfig(num_layers=2))
