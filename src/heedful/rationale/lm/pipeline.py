"""Python API behind ``heedful rationale train`` and ``predict --method lm``: data → examples → train / generate.

The run folder of a trained model holds ``config.json`` (model, training, data and retrieval settings),
``adapter.safetensors`` and, for the retrieval modes, ``index/`` (the training samples' FAISS index) unless an
index folder was given. Prediction reads all of that back, so a model is used with the prompts it was trained on.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path

from heedful import tracking
from heedful.checkpoint import seed_everything
from heedful.devices import model_device, resolve_device
from heedful.errors import InputError
from heedful.rationale.data.config import DataConfig, load_split
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.lm.examples import encode_all, fit_report, prompt_text, retrieved_rationales
from heedful.rationale.lm.generate import GenerateConfig, generate_rationales
from heedful.rationale.lm.model import WEIGHTS, RationaleLM, RationaleLMConfig, load_rationale_lm
from heedful.rationale.lm.train import LMTrainConfig, train_lm
from heedful.rationale.retrieval.keys import KeyConfig, features_for
from heedful.rationale.retrieval.store import build_index
from heedful.runs import hold_run, read_json, write_json


def _say(line: str | None, progress: bool) -> None:
    if line and progress:
        print(f"heedful: {line}", file=sys.stderr)


def _part(data: DataConfig, split: str):
    return load_split(data.with_split(split)).samples


def retrieve_for(cfg: RationaleLMConfig, samples, index):
    return retrieved_rationales(index, samples, cfg.k) if cfg.uses_retrieval else None


def prepare(
    model: RationaleLM, tokenizer, samples, index, features: KeyConfig, reserve=0, progress=True, strict=True, **kw
):
    """LMExamples for ``samples``: retrieved examples (if the mode uses them) and graph features (if it uses them).
    ``strict``: a target with a token outside a trimmed vocabulary is an error (else spelled in bytes);
    ``retrieved=`` reuses retrieved examples already looked up; ``frames=`` gives the visual features directly
    (a service request) instead of ``features.visual``."""
    cfg = model.cfg
    retrieved = kw["retrieved"] if "retrieved" in kw else retrieve_for(cfg, samples, index)
    feats = features_for(samples, cfg.encoder, features, progress) if cfg.uses_xattn else None
    scenes = kw.get("scenes")
    visual = kw.get("frames")
    if visual is not None:  # a request's own arrays; a file's rows are checked where VisualFile reads them
        from heedful.rationale.features.visual import check_rows

        check_rows(visual, samples, model.frame_dim, "given")
    elif cfg.graph.visual_dim or (scenes is None and model.phrases is not None):  # phrases given: no frames to read
        visual = visual_rows(model.frame_dim, samples, features)
    if scenes is None and model.phrases is not None:
        scenes = model.phrases.predict(samples, visual)
    graph_visual = visual if cfg.graph.visual_dim else None
    before = getattr(tokenizer, "fallbacks", 0)
    examples = encode_all(
        tokenizer, samples, retrieved, feats, cfg.max_tokens, reserve, strict, graph_visual, cfg.prompt_text, scenes
    )
    _say(fit_report(examples), progress)
    spelled = getattr(tokenizer, "fallbacks", 0) - before
    if spelled:
        _say(f"{spelled} token(s) outside the trimmed vocabulary spelled as bytes", progress)
    return examples


def visual_rows(want: int, samples, features: KeyConfig):
    """The samples' ``want``-d frame features when the model has video (the file's dimension checked), else None."""
    if not want:
        return None
    if not features.visual:
        raise InputError(f"this model was trained with video ({want}-d per utterance): pass --visual FILE")
    from heedful.rationale.features.visual import VisualFile

    source = VisualFile(features.visual)
    if source.dim != want:
        raise InputError(f"{features.visual}: visual features are {source.dim}-d; the model was trained on {want}-d")
    return source.for_samples(samples, features.visual_missing)


def use_visual(model_cfg: RationaleLMConfig, features: KeyConfig) -> dict | None:
    """Size the graph and the condition tokens for ``features.visual``; returns what the run records about it."""
    if not features.visual:
        return None
    from heedful.rationale.features.visual import VisualFile

    described = VisualFile(features.visual).describe()
    if model_cfg.graph.visual_dim not in (0, described["dim"]):  # a --graph-init graph trained on other frames
        dim, want = described["dim"], model_cfg.graph.visual_dim
        raise InputError(f"{features.visual}: visual features are {dim}-d; the graph expects {want}")
    model_cfg.graph.visual_dim = model_cfg.inject.visual_dim = described["dim"]
    return described


def trim_for(model_cfg: RationaleLMConfig, lm, tokenizer, folder: Path, texts):
    """Trim ``lm`` to the tokens of ``texts`` (or to the map already in ``folder``, when resuming); records the map in
    the config and the folder. Returns (lm, tokenizer)."""
    from heedful.rationale.lm.model import apply_vocab
    from heedful.rationale.lm.vocab import VOCAB_FILE, VocabMap, build_vocab_map

    if (folder / VOCAB_FILE).is_file():
        vmap = VocabMap.load(folder, model_cfg.vocab)
    else:
        gen_eos = lm.generation_config.eos_token_id
        extra = [gen_eos] if isinstance(gen_eos, int) else list(gen_eos or [])
        vmap = build_vocab_map(tokenizer, texts, lm.get_input_embeddings().num_embeddings, extra)
        vmap.save(folder)
    model_cfg.vocab = vmap.describe()
    return apply_vocab(lm, tokenizer, vmap)


def fit_scenes(folder: Path, train, features: KeyConfig):
    """The verbalised video's classifier, fitted on the training frames and saved in the run; the training prompts'
    phrases, each from a classifier that did not see that sample (so they are as good as unseen ones'); and what the
    run records about the frames' file."""
    from heedful.rationale.features.verbal import PHRASES, PhraseClassifier
    from heedful.rationale.features.visual import VisualFile

    source = VisualFile(features.visual)
    frames = source.for_samples(train, features.visual_missing)
    phrases = PhraseClassifier.fit(train, frames)
    phrases.save(folder / PHRASES)
    return phrases, PhraseClassifier.cross_fit(train, frames), source.describe()


def _init_graph(model: RationaleLM, folder: str | None) -> None:
    if folder and model.graph is not None:
        from heedful.rationale.graph.contrastive import load_aligner

        aligner, _ = load_aligner(folder)
        model.graph.load_state_dict(aligner.encoder.state_dict())


def train_pipeline(
    data: DataConfig,
    model_cfg: RationaleLMConfig,
    train_cfg: LMTrainConfig,
    folder: str | Path,
    features: KeyConfig,
    index: str | None = None,
    graph_init: str | None = None,
    max_train: int | None = None,
    progress: bool = True,
    lm=None,
    tokenizer=None,
) -> dict:
    """Train a rationale LM in ``folder`` (resuming if it holds a checkpoint); returns the training report. The
    folder is held (``heedful.runs.hold_run``) while training: a second writer is refused."""
    if max_train is not None and (isinstance(max_train, bool) or not isinstance(max_train, int) or max_train < 1):
        raise InputError(f"max_train must be an integer >= 1, got {max_train!r}")  # [:-3] would drop the last 3
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with hold_run(folder):
        settings = (data, model_cfg, train_cfg, features, index, graph_init, max_train)
        return _train_in(folder, *settings, progress=progress, lm=lm, tokenizer=tokenizer)


def _train_in(
    folder: Path, data, model_cfg, train_cfg, features, index, graph_init, max_train, progress, lm, tokenizer
):
    from heedful.rationale.features.encoders import make_encoder

    if model_cfg.uses_xattn and not features.features:
        model_cfg.graph.text_dim = make_encoder(model_cfg.encoder).dim
    if graph_init:
        from heedful.rationale.graph.encoder import GraphConfig

        model_cfg.graph = GraphConfig(**read_json(Path(graph_init) / "graph.json")["graph"])
        model_cfg.inject.cond_dim = model_cfg.graph.hidden
    if model_cfg.scene_line and not features.visual:
        raise InputError("--scene-line reads the frames: pass --visual FILE")
    graph_video = model_cfg.uses_xattn and not model_cfg.scene_line  # verbalised video: words only, no frame tokens
    visual = use_visual(model_cfg, features) if graph_video else None
    train, dev = _part(data, "train"), _part(data, "dev")
    train = [s for s in train if s.rationale is not None][:max_train]
    dev = [s for s in dev if s.rationale is not None]
    phrases = scenes = None
    if model_cfg.scene_line:
        phrases, scenes, visual = fit_scenes(folder, train, features)
    if model_cfg.uses_retrieval and index is None:
        index = str(
            build_index(
                train, KeyConfig(key="text", encoder=model_cfg.encoder, cache_dir=features.cache_dir), folder / "index"
            )
        )
    if lm is None:
        from heedful.rationale.lm.loader import load_lm

        lm, tokenizer = load_lm(model_cfg.lm)
    retrieved = retrieve_for(model_cfg, train, index)
    if model_cfg.trim_vocab:
        folder.mkdir(parents=True, exist_ok=True)
        pairs = zip(train, retrieved or [()] * len(train), scenes or [None] * len(train), strict=True)
        texts = [prompt_text(tokenizer, s, r, model_cfg.prompt_text, scene) for s, r, scene in pairs]
        texts += [scoring_string(s.rationale) for s in train]
        lm, tokenizer = trim_for(model_cfg, lm, tokenizer, folder, texts)
        _say(f"vocabulary trimmed to {model_cfg.vocab['size']} of {model_cfg.vocab['base_size']} tokens", progress)
    seed_everything(train_cfg.seed)  # the LoRA, cross-attention and graph weights start the same every time
    model = RationaleLM(lm, model_cfg)
    model.phrases = phrases
    _init_graph(model, graph_init)
    meta = {"data": asdict(data), "train": asdict(train_cfg), "features": asdict(features)}
    meta |= {"index": index_ref(index, folder), "index_from_run": index_beside(index, folder)}
    meta |= {"index_key": index_key(index), "visual": visual}
    model.save(folder, meta | {"graph_init": graph_init, "max_train": max_train})  # config first: resumable
    train_ex = prepare(model, tokenizer, train, index, features, progress=progress, retrieved=retrieved, scenes=scenes)
    dev_ex = prepare(model, tokenizer, dev, index, features, progress=progress, strict=False)
    if model_cfg.graph.visual_dim:
        from heedful.rationale.lm.video_faithfulness import save_mean

        save_mean(folder, train_ex)
    report = train_lm(model, tokenizer, train_ex, dev_ex, train_cfg, folder, progress)
    report |= {"n_train": len(train_ex), "n_dev": len(dev_ex), "mode": model_cfg.mode}
    _export_lora(model, folder, model_cfg.lm)
    write_json(folder / "metrics.json", report)
    tracking.log_outcome(folder, train_cfg.log_with, "rationale")
    return report


def _export_lora(model: RationaleLM, folder: Path, lm_spec: str | None) -> None:
    """The best LoRA also in PEFT's layout (``RUN/lora``), written once, by the main process."""
    import os

    from heedful.rationale.lm.loader import resolve_lm
    from heedful.rationale.lm.peft_layout import save_peft_lora

    if int(os.environ.get("RANK", "0")) != 0:
        return
    model.load_weights(folder / WEIGHTS)  # the best epoch's weights, not the last epoch's
    try:
        base = str(resolve_lm(lm_spec))
    except (FileNotFoundError, InputError):  # an LM given in memory: its name is all there is to record
        base = lm_spec
    save_peft_lora(model, folder, base)


def resume_pipeline(folder: str | Path, progress: bool = True, lm=None, tokenizer=None) -> dict:
    """Continue an interrupted ``train_pipeline`` in ``folder`` with the settings saved there (a resumed run must be
    the same run); returns the training report, equal to an uninterrupted run's."""
    from heedful.rationale.lm.runfolder import resume_settings

    settings = resume_settings(folder)
    return train_pipeline(**settings, folder=folder, progress=progress, lm=lm, tokenizer=tokenizer)


def index_ref(index: str | Path | None, folder: Path) -> str | None:
    """How a model records its index: relative to the run folder when inside it, else absolute."""
    if index is None:
        return None
    path, folder = Path(index).resolve(), folder.resolve()
    return str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)


def index_beside(index: str | Path | None, folder: Path) -> str | None:
    """An index outside the run folder, as a path from the run folder (``../../idx/...``): found again when the run
    and its index moved together, while the absolute path finds it when only the run moved."""
    if index is None:
        return None
    path, folder = Path(index).resolve(), folder.resolve()
    return None if path.is_relative_to(folder) else os.path.relpath(path, folder)


def index_key(index: str | Path | None) -> dict | None:
    """What must match between a model and the index it prompts from: the key (kind, encoder) and the dimension."""
    if index is None:
        return None
    from heedful.rationale.retrieval.store import open_index

    vectors, _, key = open_index(index)
    return {"key": key.key, "encoder": key.encoder, "dim": vectors.dim}


def own_index(meta: dict, model_folder: str | Path) -> str:
    """The index a model was trained with: as recorded (inside the run, or absolute), else at the same place relative
    to the run (run and index moved together); a missing one is named with where it was looked for."""
    places = [Path(model_folder) / meta["index"]]  # an absolute path stays absolute
    if meta.get("index_from_run"):
        places.append(Path(model_folder) / meta["index_from_run"])
    found = next((p for p in places if p.is_dir()), None)
    if found is None:
        where = " nor ".join(str(p) for p in places)
        raise FileNotFoundError(f"the model's index folder is missing: not at {where} (pass --index)")
    return str(found)


def model_index(meta: dict, model_folder: str | None, given: str | None) -> str | None:
    """The index to prompt from: ``given``, else the model's own (run-relative or absolute), checked against the key
    the model was trained with."""
    index = given
    if index is None and meta.get("index"):
        index = own_index(meta, model_folder)
    want = meta.get("index_key")
    if index is not None and want:
        got = index_key(index)
        if got != want:
            raise InputError(
                f"index {index} has key {got['key']}, encoder {got['encoder']}, dimension {got['dim']}; the model was "
                f"trained with key {want['key']}, encoder {want['encoder']}, dimension {want['dim']}"
            )
    return index


def load_for_prediction(
    model_folder: str | None, lm_spec: str | None = None, lm=None, tokenizer=None, device: str = "cpu"
):
    """(RationaleLM, tokenizer, meta): a trained folder, or the zero-shot base LM when ``model_folder`` is None, on
    ``device`` (``--device``: checked before anything loads)."""
    place = resolve_device(device)
    if model_folder is None:
        if lm is None:
            from heedful.rationale.lm.loader import load_lm

            lm, tokenizer = load_lm(lm_spec)
        model, meta = RationaleLM(lm, RationaleLMConfig(lm=lm_spec, mode="zeroshot", k=0)), {}
    else:
        model, tokenizer, meta = load_rationale_lm(model_folder, lm, tokenizer)
    return model.to(place).eval(), tokenizer, meta


def check_int8(gen: GenerateConfig, model: RationaleLM) -> None:
    """int8 generation quantises for the CPU: refused, in one line, for a model elsewhere."""
    if gen.int8 and model_device(model).type != "cpu":
        raise InputError(f"--int8 quantises for the CPU, the model is on {model_device(model)}: add --device cpu")


def predict_pipeline(
    samples,
    gen: GenerateConfig,
    model_folder: str | None = None,
    lm_spec: str | None = None,
    index: str | None = None,
    features: KeyConfig | None = None,
    progress: bool = True,
    lm=None,
    tokenizer=None,
) -> list[dict]:
    model, tokenizer, meta = load_for_prediction(model_folder, lm_spec, lm, tokenizer, gen.device)
    check_int8(gen, model)
    index = model_index(meta, model_folder, index) if model.cfg.uses_retrieval else index
    if model.cfg.uses_retrieval and not index:
        raise InputError("this model prompts with retrieved examples: pass --index (a folder from 'rationale index')")
    if features is None:
        features = KeyConfig(**meta["features"]) if meta.get("features") else KeyConfig()
    # strict=False: a gold rationale (not needed to generate) may use tokens outside a trimmed vocabulary
    examples = prepare(
        model, tokenizer, samples, index, features, reserve=gen.max_new_tokens, progress=progress, strict=False
    )
    return generate_rationales(model, tokenizer, examples, gen, progress)
