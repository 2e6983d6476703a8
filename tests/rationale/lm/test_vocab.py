import copy
import dataclasses
import json

import pytest
import torch

from heedful.errors import InputError
from heedful.rationale import load_demo
from heedful.rationale.data.prompt import scoring_string
from heedful.rationale.lm.examples import target_ids
from heedful.rationale.lm.model import apply_vocab
from heedful.rationale.lm.vocab import VocabMap, build_vocab_map, byte_tokens

from ..conftest import LM_FAMILIES, tiny_lm, tiny_tokenizer

TEXTS = ["abc cab", "hello"]


def test_map_keeps_the_texts_tokens_specials_and_bytes():
    tok = tiny_tokenizer()
    vmap = build_vocab_map(tok, TEXTS, 260)
    assert set(tok.all_special_ids) <= set(vmap.kept)
    assert set(byte_tokens(tok).values()) <= set(vmap.kept)  # here every byte is a token: nothing is dropped
    words = build_vocab_map(tok, [], 260)
    assert len(words) == len(vmap)


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_logits_on_kept_tokens_equal_the_untrimmed_model(family):
    lm, tok = tiny_lm(family), tiny_tokenizer()
    keep = VocabMap(260, tuple(range(0, 260, 3)))  # a real subset: every third token
    small, _ = apply_vocab(copy.deepcopy(lm), tok, keep)
    assert small.get_input_embeddings().weight.shape[0] == len(keep) == small.get_output_embeddings().weight.shape[0]
    old = torch.tensor([[0, 30, 60, 99, 129, 3, 6]])
    new = keep.old_to_new()[old]
    assert (new >= 0).all()
    with torch.no_grad():
        full = lm(input_ids=old).logits[..., list(keep.kept)]
        cut = small(input_ids=new).logits
    torch.testing.assert_close(cut, full, rtol=0, atol=1e-5)


def test_generation_cannot_emit_a_dropped_token_and_decodes_back():
    lm, tok = tiny_lm(), tiny_tokenizer()
    keep = VocabMap(260, tuple(sorted({0, 1, 2, *range(100, 140)})))
    small, stok = apply_vocab(copy.deepcopy(lm), tok, keep)
    prompt = torch.tensor([[stok.bos_token_id, 10, 11]])
    out = small.generate(prompt, max_new_tokens=12, do_sample=True, pad_token_id=stok.pad_token_id)
    assert int(out.max()) < len(keep)
    assert stok.decode(out[0, 3:]) == tok.decode([keep.kept[i] for i in out[0, 3:]])


def test_prompt_tokens_outside_the_map_are_spelled_in_bytes_but_targets_are_refused():
    tok = tiny_tokenizer()
    ids = tok("héllo", add_special_tokens=False).input_ids
    keep = VocabMap(260, tuple(sorted(set(range(260)) - {ids[1]})))  # drop one token the text uses
    _, stok = apply_vocab(tiny_lm(), tok, keep)
    stok.bytes[0xC3] = stok.bytes[0xA9] = 7  # pretend a byte spelling exists for the dropped byte token
    assert len(stok("héllo", add_special_tokens=False).input_ids) == len(ids) and stok.fallbacks == 1
    sample = load_demo()[0]
    sample = dataclasses.replace(sample, rationale=dataclasses.replace(sample.rationale, textual="héllo"))
    with pytest.raises(InputError, match="not in the trimmed vocabulary"):
        target_ids(stok, sample)
    assert scoring_string(sample.rationale)  # the non-strict route spells it instead
    assert target_ids(stok, sample, strict=False)[-1] == stok.eos_token_id


def test_map_of_another_model_or_edited_map_is_refused(tmp_path):
    lm, tok = tiny_lm(), tiny_tokenizer()
    big = VocabMap(1000, (0, 1, 2, 500))
    with pytest.raises(InputError, match="1000 base tokens"):
        apply_vocab(lm, tok, big)
    vmap = VocabMap(260, (0, 1, 2, 5))
    vmap.save(tmp_path)
    with pytest.raises(InputError, match="does not match the model"):
        VocabMap.load(tmp_path, {"size": 5, "digest": vmap.digest})
    edited = json.loads((tmp_path / "vocab.json").read_text()) | {"kept": [0, 1, 2, 6]}
    (tmp_path / "vocab.json").write_text(json.dumps(edited))
    with pytest.raises(InputError, match="digest"):
        VocabMap.load(tmp_path)
    with pytest.raises(InputError, match="ascending"):
        VocabMap(260, (3, 1))
