"""Model names, importable without torch (the CLI builds its help from them)."""

# lstm, gru, bilstm, bigru, each optionally with attention pooling: bigru_attn, lstm_attn, ...
NEURAL_MODELS = tuple(f"{b}{c}{a}" for c in ("lstm", "gru") for b in ("", "bi") for a in ("", "_attn"))
CLASSICAL_MODELS = ("logistic", "pca_t2")
