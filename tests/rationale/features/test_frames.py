"""CLIP features from key frames (a tiny random CLIP built in-process, generated images): the same recipe as the
MECR release, loadable by --visual, resumable, and every bad input one line."""

import json

import numpy as np
import pytest

from heedful.cli import main
from heedful.rationale.data.loaders import load_samples
from heedful.rationale.features.visual import VisualFile

from ..conftest import inside_record


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = tmp_path_factory.mktemp("tiny-clip")
    small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    cfg = CLIPConfig(
        text_config=small | {"vocab_size": 64, "eos_token_id": 2},
        vision_config=small | {"image_size": 32, "patch_size": 16},
        projection_dim=8,
    )
    import torch

    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def scene(tmp_path, per_utterance=2):
    from PIL import Image

    data = tmp_path / "inside.json"
    data.write_text(json.dumps([inside_record("s1")], ensure_ascii=False))
    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for utt in ("u1", "u2", "u3"):
        for k in range(per_utterance):
            Image.fromarray((rng.random((24, 30, 3)) * 255).astype("uint8")).save(frames / f"{utt}_frame_{k}.jpg")
    return data, frames


def run_visual(data, frames, clip, out) -> int:
    return main(
        ["rationale", "visual", "--data", str(data), "--frames", str(frames), "--clip", str(clip), "--out", str(out)]
    )


def test_features_follow_the_recipe_and_load_back(tmp_path, tiny_clip):
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPModel

    data, frames = scene(tmp_path)
    out = tmp_path / "v.npz"
    assert run_visual(data, frames, tiny_clip, out) == 0
    sample = load_samples(data).samples[0]
    rows = VisualFile(out).for_samples([sample])[0]
    assert rows.shape == (3, 8) and not (tmp_path / "v.npz.parts").exists()
    # by hand: mean of the L2-normalised projected image embeddings of u2's two frames
    model, proc = CLIPModel.from_pretrained(tiny_clip).eval(), CLIPImageProcessor.from_pretrained(tiny_clip)
    images = [Image.open(frames / f"u2_frame_{k}.jpg").convert("RGB") for k in range(2)]
    with torch.no_grad():
        emb = model.visual_projection(model.vision_model(**proc(images=images, return_tensors="pt")).pooler_output)
    want = torch.nn.functional.normalize(emb, dim=-1).mean(0).numpy()
    np.testing.assert_allclose(rows[1], want, atol=2e-3)  # stored as float16, as the release


def test_resume_reuses_finished_utterances(tmp_path, tiny_clip, capsys):
    from heedful.rationale.features.frames import compute_visual

    data, frames = scene(tmp_path)
    samples = load_samples(data).samples
    (frames / "u3_frame_1.jpg").write_bytes(b"garbage")
    with pytest.raises(Exception, match=r"u3_frame_1\.jpg: not a readable image"):
        compute_visual(samples, frames, tiny_clip, tmp_path / "v.npz", progress=False)
    assert not (tmp_path / "v.npz").exists() and len(list((tmp_path / "v.npz.parts").iterdir())) == 2
    report = compute_visual(samples, frames, tiny_clip, tmp_path / "v.npz", skip_invalid=True, progress=False)
    assert report.reused == 2 and report.written == 1 and len(report.skipped) == 1


@pytest.mark.parametrize(
    "problem, message",
    [
        ("not_clip", "not CLIP"),
        ("pickle", "no safetensors weights"),
        ("no_frames", "has no key frame"),
        ("flat", "flat format has no utterance ids"),
    ],
)
def test_bad_input_is_one_line(tmp_path, tiny_clip, capsys, problem, message):
    import shutil

    data, frames = scene(tmp_path)
    clip = tiny_clip
    if problem == "not_clip":
        clip = tmp_path / "bert"
        shutil.copytree(tiny_clip, clip)
        cfg = json.loads((clip / "config.json").read_text())
        (clip / "config.json").write_text(json.dumps(cfg | {"model_type": "bert"}))
    elif problem == "pickle":
        clip = tmp_path / "pickled"
        shutil.copytree(tiny_clip, clip)
        (clip / "model.safetensors").rename(clip / "pytorch_model.bin")
    elif problem == "no_frames":
        for p in frames.glob("u2_*"):
            p.unlink()
    else:
        data.write_text(json.dumps([{"dialogue": "A [Neutral]: 你好", "rationale": None}]))
    code = run_visual(data, frames, clip, tmp_path / "v.npz")
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("heedful: error")]
    assert code == 2 and "Traceback" not in err and len(errors) == 1 and message in errors[0]
