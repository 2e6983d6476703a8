import pytest
import torch

from heedful.rationale.lm.generate import shared_prompt

from ..conftest import tiny_lm


def _prompts():
    torch.manual_seed(3)
    ids = torch.randint(3, 250, (3, 14))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # left padding, as collate_prompts pads
    mask[2, :2] = 0
    return {"input_ids": ids.masked_fill(mask == 0, 0), "attention_mask": mask}


@pytest.mark.parametrize("family", ["llama", "gemma3_text"])  # gemma: a sliding window (8) shorter than the prompt
def test_one_prompt_pass_samples_what_repeated_prompts_sample(family):
    lm, inputs, n = tiny_lm(family, layers=3), _prompts(), 4
    common = dict(max_new_tokens=6, do_sample=True, top_k=0, temperature=1.0, pad_token_id=0, eos_token_id=None)
    common |= dict(output_scores=True, return_dict_in_generate=True)
    torch.manual_seed(0)
    plain = lm.generate(**inputs, num_return_sequences=n, **common)
    torch.manual_seed(0)
    shared = lm.generate(**shared_prompt(lm, inputs, n), **common)
    for a, b in zip(plain.scores, shared.scores, strict=True):  # every step's logits, all B·n rows
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert torch.equal(plain.sequences, shared.sequences)
    assert len({tuple(r) for r in shared.sequences[:n, 14:].tolist()}) > 1  # the n samples of a prompt differ
