"""A 'rationale train' run folder read back: its config checked before anything is built, and the settings a
resumed run continues with."""

from __future__ import annotations

from pathlib import Path

from heedful.errors import InputError
from heedful.runs import read_json


def lm_run_config(folder: str | Path, flag: str, sections=("model",)) -> dict:
    """The config.json of a 'rationale train' run folder, refused in one line when ``folder`` is another kind of
    run (a process run's config.json names its model with a string)."""
    folder = Path(folder)
    config = read_json(folder / "config.json")
    missing = [k for k in sections if not isinstance(config, dict) or not isinstance(config.get(k), dict)]
    if missing:
        kind = config.get("command") if isinstance(config, dict) and isinstance(config.get("command"), str) else None
        found = f"a '{kind}' run" if kind else f"its config.json has no {missing[0]!r} object"
        raise InputError(f"{flag} {folder}: not a 'rationale train' run folder ({found})")
    check_graph_size(folder, config["model"])
    return config


def check_graph_size(folder: Path, model: dict) -> None:
    """The graph encoder the config describes, built on the meta device (no memory) and checked against the
    adapter's weights before the real model is built: a graph hidden size of 10⁶ would allocate gigabytes first."""
    from heedful.checkpoint import saved_shapes

    weights = folder / "adapter.safetensors"
    if not isinstance(model.get("graph"), dict) or not weights.is_file():
        return
    try:
        shapes = saved_shapes(weights)
    except InputError:
        return  # damaged: the model's loader names it ("corrupt checkpoint")
    saved = {k.removeprefix("graph."): v for k, v in shapes.items() if k.startswith("graph.")}
    if not saved:
        return  # a mode without the graph
    import torch

    from heedful.rationale.graph.encoder import ChangeGraphEncoder, GraphConfig

    config = folder / "config.json"
    try:
        with torch.device("meta"):
            encoder = ChangeGraphEncoder(GraphConfig(**model["graph"]))
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:  # sizes torch cannot describe, unknown keys
        raise InputError(f"{config}: model.graph is not a graph config ({' '.join(str(err).split())[:120]})") from None
    for name, p in encoder.named_parameters():
        if name in saved and saved[name] != tuple(p.shape):  # a frozen part is not saved: only what is there
            raise InputError(
                f"{config}: model.graph does not fit {weights}: graph.{name} has shape {saved[name]} "
                f"there, the config makes {tuple(p.shape)}"
            )


def resume_settings(folder: str | Path) -> dict:
    """``train_pipeline``'s arguments (but the folder) as the run in ``folder`` saved them; an edited or foreign
    config.json is one error naming it."""
    from heedful.rationale.data.config import DataConfig
    from heedful.rationale.lm.config import LMTrainConfig
    from heedful.rationale.lm.model import RationaleLMConfig
    from heedful.rationale.retrieval.keys import KeyConfig

    folder = Path(folder)
    saved = lm_run_config(folder, "--resume", ("data", "train", "model", "features"))
    try:
        data, train = DataConfig.from_saved(saved["data"]), LMTrainConfig(**saved["train"])
        features = KeyConfig(**saved["features"])
        model = RationaleLMConfig.from_dict(saved["model"])
    except TypeError as err:  # a key no config has: an edited or foreign config.json
        raise InputError(f"{folder / 'config.json'}: {err}") from None
    from heedful.rationale.lm.pipeline import own_index

    index = own_index(saved, folder) if saved.get("index") else None  # run-relative, absolute or beside
    return {
        "data": data,
        "model_cfg": model,
        "train_cfg": train,
        "features": features,
        "index": index,
        "graph_init": saved.get("graph_init"),
        "max_train": saved.get("max_train"),
    }
