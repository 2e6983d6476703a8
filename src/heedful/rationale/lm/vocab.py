"""Vocabulary trimming: the LM keeps only the tokens its task uses.

Gemma-3-270M's 262k-row embedding (tied to the LM head) is more than half its weights, while the rationales and
prompts use a few thousand tokens. ``VocabMap`` lists the kept token ids of the base tokenizer (the tokens of the
training prompts and rationales, the special tokens and the byte-fallback tokens ``<0x00>``..``<0xFF>``);
``trim_lm`` slices the embedding and the head to those rows, so the model works in new ids ``0..n-1`` and cannot
emit a dropped token. ``TrimmedTokenizer`` maps ids both ways at the tokenizer boundary: text → base ids → new ids,
and back for decoding. A prompt token outside the map is spelled with its UTF-8 byte tokens (counted in
``fallbacks``); a *scored* text (a training target) with a dropped token is an input error instead, since its loss
would be over another tokenisation.

The map is saved with the model (``vocab.json``: base vocabulary size, kept ids, a digest) and checked on load.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from heedful.errors import InputError
from heedful.runs import read_json, write_json

VOCAB_FILE = "vocab.json"
_BYTE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def _digest(kept: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, kept)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class VocabMap:
    base_size: int  # rows of the untrimmed embedding
    kept: tuple[int, ...]  # base ids, ascending; new id = position

    def __post_init__(self):
        if not self.kept or list(self.kept) != sorted(set(self.kept)):
            raise InputError("vocabulary map: kept ids must be a non-empty ascending list without repeats")
        if self.kept[0] < 0 or self.kept[-1] >= self.base_size:
            raise InputError(f"vocabulary map: ids outside 0..{self.base_size - 1}")

    def __len__(self) -> int:
        return len(self.kept)

    @property
    def digest(self) -> str:
        return _digest(list(self.kept))

    def old_to_new(self) -> torch.Tensor:
        """(base_size,) long: the new id of each base id, -1 where dropped."""
        table = torch.full((self.base_size,), -1, dtype=torch.long)
        table[torch.tensor(self.kept)] = torch.arange(len(self.kept))
        return table

    def save(self, folder: str | Path) -> Path:
        return write_json(
            Path(folder) / VOCAB_FILE, {"base_size": self.base_size, "digest": self.digest, "kept": list(self.kept)}
        )

    @classmethod
    def load(cls, folder: str | Path, expect: dict | None = None) -> VocabMap:
        """From ``folder/vocab.json``; ``expect`` ({"size", "digest"} from the model config) must match."""
        path = Path(folder) / VOCAB_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path} (this model was trained with a trimmed vocabulary)")
        d = read_json(path)
        try:
            vmap = cls(int(d["base_size"]), tuple(int(i) for i in d["kept"]))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path}: not a vocabulary map ({err})") from None
        if d.get("digest") != vmap.digest:
            raise InputError(f"{path}: the kept ids do not match the map's digest (edited or corrupt)")
        if expect and (expect.get("size") != len(vmap) or expect.get("digest") != vmap.digest):
            raise InputError(
                f"{path}: vocabulary map of {len(vmap)} tokens ({vmap.digest}) does not match the model "
                f"({expect.get('size')} tokens, {expect.get('digest')})"
            )
        return vmap

    def describe(self) -> dict:
        return {"size": len(self), "digest": self.digest, "base_size": self.base_size}


def byte_tokens(tokenizer) -> dict[int, int]:
    """byte value → base id of the token spelling that byte alone: SentencePiece's byte fallback (``<0xE4>``) or a
    byte-level BPE's byte character (GPT-2 style); empty when the tokenizer has neither."""
    vocab = tokenizer.get_vocab()
    out = {int(token[3:5], 16): i for token, i in vocab.items() if _BYTE.match(token)}
    if not out:
        out = {b: vocab[c] for b, c in _byte_level_chars().items() if c in vocab}
    return out


def _byte_level_chars() -> dict[int, str]:
    """GPT-2's byte → printable character table (byte-level BPE vocabularies spell bytes with these)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return {b: chr(b if b in printable else next(extra)) for b in range(256)}


def build_vocab_map(tokenizer, texts: Iterable[str], base_size: int | None = None, extra=()) -> VocabMap:
    """Kept ids: every token of ``texts`` (tokenised as the model sees them), special and byte-fallback tokens, and
    ``extra`` ids (e.g. the generation config's stop tokens)."""
    ids: set[int] = set(tokenizer.all_special_ids) | set(byte_tokens(tokenizer).values()) | set(extra)
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        if getattr(tokenizer, attr, None) is not None:
            ids.add(getattr(tokenizer, attr))
    for text in texts:
        ids.update(tokenizer(text, add_special_tokens=False).input_ids)
    size = base_size or len(tokenizer)
    return VocabMap(size, tuple(sorted(i for i in ids if i < size)))


def _slice_rows(weight: torch.Tensor, kept: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(weight.detach()[kept].clone(), requires_grad=False)


def trim_lm(lm: nn.Module, vmap: VocabMap) -> nn.Module:
    """Slice ``lm``'s input embedding and output head (tied or not) to ``vmap.kept``, in place; ids become new ids."""
    emb, head = lm.get_input_embeddings(), lm.get_output_embeddings()
    if emb.num_embeddings != vmap.base_size:
        raise InputError(
            f"vocabulary map is for {vmap.base_size} base tokens, the model's embedding has {emb.num_embeddings}"
        )
    kept = torch.tensor(vmap.kept)
    table = vmap.old_to_new()
    tied = head is not None and head.weight is emb.weight
    emb.weight = _slice_rows(emb.weight, kept)
    emb.num_embeddings = len(vmap)
    if emb.padding_idx is not None:
        emb.padding_idx = int(table[emb.padding_idx]) if table[emb.padding_idx] >= 0 else None
    if head is not None:
        head.weight = emb.weight if tied else _slice_rows(head.weight, kept)
        if getattr(head, "bias", None) is not None:
            head.bias = _slice_rows(head.bias, kept)
        head.out_features = len(vmap)
    for config in {id(c): c for c in (lm.config, lm.config.get_text_config())}.values():
        config.vocab_size = len(vmap)
    if hasattr(lm, "vocab_size"):
        lm.vocab_size = len(vmap)
    _map_special_ids(lm.generation_config, table)
    _map_special_ids(lm.config, table)
    return lm


def _map_special_ids(config, table: torch.Tensor) -> None:
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(config, attr, None)
        if value is None:
            continue
        ids = [value] if isinstance(value, int) else list(value)
        new = [int(table[i]) for i in ids if 0 <= i < len(table) and table[i] >= 0]
        setattr(config, attr, (new[0] if new else None) if isinstance(value, int) else new)


class _Encoded:
    def __init__(self, input_ids: list[int]):
        self.input_ids = input_ids


class TrimmedTokenizer:
    """A Hugging Face tokenizer speaking the trimmed model's ids; everything else is forwarded to it."""

    def __init__(self, tokenizer, vmap: VocabMap):
        if vmap.base_size < len(tokenizer) - len(tokenizer.get_added_vocab()):
            raise InputError(
                f"vocabulary map is for {vmap.base_size} tokens, the tokenizer has {len(tokenizer)} (another model's)"
            )
        self.base, self.vmap = tokenizer, vmap
        self.table = vmap.old_to_new()
        self.bytes = {b: int(self.table[i]) for b, i in byte_tokens(tokenizer).items() if self.table[i] >= 0}
        self.fallbacks = 0  # prompt tokens spelled as bytes
        vocab = tokenizer.get_vocab()
        chars = {c: b for b, c in _byte_level_chars().items()}
        self.byte_level = chars if not any(_BYTE.match(t) for t in vocab) and all(c in vocab for c in chars) else None

    def __getattr__(self, name: str):
        return getattr(self.__dict__["base"], name)

    def __len__(self) -> int:
        return len(self.vmap)

    def to_new(self, ids: Iterable[int], strict: bool = False, what: str = "text") -> list[int]:
        out: list[int] = []
        for i in ids:
            new = int(self.table[i]) if 0 <= i < len(self.table) else -1
            if new >= 0:
                out.append(new)
                continue
            piece = self.base.convert_ids_to_tokens(i)
            if strict:
                raise InputError(f"{what}: token {piece!r} is not in the trimmed vocabulary ({len(self.vmap)} tokens)")
            spelled = [self.bytes.get(b) for b in self._token_bytes(piece)]
            if not spelled or None in spelled:
                raise InputError(f"{what}: token {piece!r} is outside the trimmed vocabulary and has no byte spelling")
            out += spelled
            self.fallbacks += 1
        return out

    def _token_bytes(self, piece: str) -> bytes:
        if self.byte_level:
            return bytes(self.byte_level.get(c, 0) for c in piece)
        return piece.replace("▁", " ").encode("utf-8")  # SentencePiece marks a space with ▁

    def __call__(self, text: str, add_special_tokens: bool = True, strict: bool = False, what: str = "text"):
        ids = self.base(text, add_special_tokens=add_special_tokens).input_ids
        return _Encoded(self.to_new(ids, strict, what))

    def decode(self, ids, skip_special_tokens: bool = False, **kwargs) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self.base.decode([self.vmap.kept[i] for i in ids], skip_special_tokens=skip_special_tokens, **kwargs)

    def _new(self, base_id: int | None) -> int | None:
        return None if base_id is None or self.table[base_id] < 0 else int(self.table[base_id])

    @property
    def pad_token_id(self) -> int | None:
        return self._new(self.base.pad_token_id)

    @property
    def eos_token_id(self) -> int | None:
        return self._new(self.base.eos_token_id)

    @property
    def bos_token_id(self) -> int | None:
        return self._new(self.base.bos_token_id)


def untrimmed(tokenizer):
    """The base Hugging Face tokenizer behind a ``TrimmedTokenizer`` (or the tokenizer itself)."""
    return tokenizer.base if isinstance(tokenizer, TrimmedTokenizer) else tokenizer
