"""Trains the tiny test model on the demo set (run by ``test_ddp.py``, alone or under ``accelerate launch``)."""

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/ on the path for the conftest helpers

from heedful.rationale.data.config import DataConfig
from heedful.rationale.lm.config import LMTrainConfig
from heedful.rationale.lm.pipeline import train_pipeline
from heedful.rationale.retrieval.keys import KeyConfig
from rationale.conftest import tiny_lm, tiny_tokenizer
from rationale.lm.test_lm_train import model_cfg

if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    train = LMTrainConfig(epochs=2, batch_size=2, grad_accum=2, lr=3e-3, max_dev=4, save_every=1)
    report = train_pipeline(
        DataConfig(), model_cfg("both"), train, out, KeyConfig(cache_dir=str(out.parent / "cache")),
        max_train=8, progress=False, lm=tiny_lm(), tokenizer=tiny_tokenizer(),
    )  # fmt: skip
    if os.environ.get("RANK", "0") == "0":  # every process gets the report; two writers of one file race
        (out / "report.json").write_text(json.dumps(report))
