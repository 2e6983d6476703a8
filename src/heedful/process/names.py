"""Task and model names, importable without torch or numpy (the CLI builds its help from them)."""

from heedful.errors import InputError

TASKS = (
    "tep_faults",
    "pen_quality",
    "pen_phase",
    "pen_faults",
    "pen_endtime",
    "pen_forecast",
    "pen_softsensor",
    "pen_repair",
    "tep_sim_faults",  # simulated TEP (tep-studio)
    "table",
)


def check_task(name: str) -> None:
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; expected one of: {', '.join(TASKS)}")


# lstm, gru, bilstm, bigru, each optionally with attention pooling: bigru_attn, lstm_attn, ...
RNN_MODELS = tuple(f"{b}{c}{a}" for c in ("lstm", "gru") for b in ("", "bi") for a in ("", "_attn"))
# encoder-decoder (bi-LSTM encoder, LSTM decoder), with or without Bahdanau attention: continuous outputs
SEQ2SEQ_MODELS = ("seq2seq", "seq2seq_attn")
# an LSTM beside a 1-D convolutional branch (Karim et al. 2017), the best architecture of Rieth et al.'s TEP study
CONV_MODELS = ("lstm_fcn",)
NEURAL_MODELS = RNN_MODELS + SEQ2SEQ_MODELS + CONV_MODELS
# logistic: classification; pca_t2: fault detection; ridge / pls: regression; persistence: forecasting;
# interpolate: repair; boosting: gradient-boosted trees on a batch's segment means (pen_quality)
CLASSICAL_MODELS = ("logistic", "pca_t2", "ridge", "pls", "persistence", "interpolate", "boosting")
