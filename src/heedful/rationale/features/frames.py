"""Visual features from key-frame images with a local CLIP checkpoint: ``heedful rationale visual``.

The recipe of the MECR release (its NOTICE): per utterance, the mean of the L2-normalised CLIP image embeddings of
its key frames (``visual_projection(vision_model(pixels).pooler_output)``, preprocessing by the checkpoint's own
image processor). Frames are found by name: an INSIDE sample lists them in ``key_frames`` (``{utt_id}_frame_N.jpg``),
otherwise every ``{utt_id}_frame_*`` image in the folder is used. The flat format has no utterance ids, so it has
no frames to find.

Resumable: each finished utterance is written to ``OUT.parts/`` (atomically) and skipped by the next run; the
``.npz`` (the layout ``--visual`` reads) is written once every sample is done, then the parts are removed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.rationale.data.schema import Sample, printable
from heedful.rationale.features.encoders import save_npy
from heedful.runs import atomic_write

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def load_clip(path: str | Path):
    """(model, image processor) from a local CLIP folder; anything else is one clear error."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(f"{path}: not a model folder (no config.json)")
    if not any(path.glob("*.safetensors")):
        raise InputError(f"{path}: no safetensors weights (pickled checkpoints are not loaded)")
    from transformers import AutoConfig, CLIPImageProcessor, CLIPModel

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    if config.model_type != "clip":
        raise InputError(f"{path}: a {config.model_type!r} model, not CLIP")
    try:
        processor = CLIPImageProcessor.from_pretrained(path, local_files_only=True)
    except OSError:
        raise InputError(f"{path}: no image processor (preprocessor_config.json)") from None
    return CLIPModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval(), processor


def frames_of(sample: Sample, folder: Path) -> dict[str, list[Path]]:
    """The key-frame files of each utterance (in dialogue order)."""
    if sample.flat:
        raise InputError(
            f"sample {printable(sample.sample_id)}: the flat format has no utterance ids to find frames by"
        )
    listed = [folder / name for name in sample.key_frames]
    out = {}
    for u in sample.utterances:
        prefix = f"{u.utt_id}_frame_"
        mine = [p for p in listed if p.name.startswith(prefix)]
        if not listed:
            mine = sorted(p for p in folder.glob(f"{prefix}*") if p.suffix.lower() in IMAGE_SUFFIXES)
        out[u.utt_id] = mine
    return out


@dataclass
class FrameReport:
    written: int = 0  # utterances embedded in this run
    reused: int = 0  # utterances found in OUT.parts from an earlier run
    skipped: list[str] = field(default_factory=list)  # invalid files (with --skip-invalid)
    dropped: list[str] = field(default_factory=list)  # samples left out: an utterance without a usable frame


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(f"{path}: frame missing")
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable image ({type(err).__name__})") from None


def embed_frames(model, processor, images, batch_size: int = 16) -> np.ndarray:
    """(n, D) L2-normalised image embeddings."""
    import torch

    out = []
    for start in range(0, len(images), batch_size):
        pixels = processor(images=images[start : start + batch_size], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            pooled = model.vision_model(pixel_values=pixels).pooler_output
            emb = model.visual_projection(pooled)
        out.append(torch.nn.functional.normalize(emb.float(), dim=-1).numpy())
    return np.concatenate(out)


def _part(parts: Path, utt_id: str) -> Path:
    import hashlib

    return parts / f"{hashlib.sha1(utt_id.encode()).hexdigest()[:20]}.npy"  # ids may hold any character


def compute_visual(
    samples: list[Sample],
    frames_dir: str | Path,
    clip: str | Path,
    out: str | Path,
    skip_invalid: bool = False,
    batch_size: int = 16,
    progress: bool = True,
) -> FrameReport:
    from tqdm.auto import tqdm

    frames_dir, out = Path(frames_dir), Path(out)
    if not frames_dir.is_dir():
        raise NotADirectoryError(f"no such frames folder: {frames_dir}")
    found = [frames_of(s, frames_dir) for s in samples]  # every sample's frames named before the model loads
    model, processor = load_clip(clip)
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    report, kept = FrameReport(), []
    for sample, files in tqdm(
        zip(samples, found, strict=True), total=len(samples), desc="frames", disable=not progress
    ):
        ok = True
        for utt_id, paths in files.items():
            part = _part(parts, utt_id)
            if part.is_file():
                report.reused += 1
                continue
            images = []
            for p in paths:
                try:
                    images.append(_open(p))
                except InputError as err:
                    if not skip_invalid:
                        raise
                    report.skipped.append(str(err))
            if not images:
                if not skip_invalid:
                    raise InputError(f"sample {printable(sample.sample_id)}: utterance {utt_id} has no key frame")
                ok = False
                break
            save_npy(part, embed_frames(model, processor, images, batch_size).mean(0).astype(np.float32))
            report.written += 1
        if ok:
            kept.append(sample)
        else:
            report.dropped.append(sample.sample_id)
    if not kept:
        raise InputError("no sample has frames for every utterance: nothing written")
    rows = [np.load(_part(parts, u.utt_id)) for s in kept for u in s.utterances]
    arrays = {
        "features": np.stack(rows).astype(np.float16),
        "offsets": np.cumsum([0] + [len(s.utterances) for s in kept]),
        "sample_id": np.array([s.sample_id for s in kept]),
        "utt_id": np.array([u.utt_id for s in kept for u in s.utterances]),
    }

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(out, write)
    shutil.rmtree(parts)
    return report
