import copy

import numpy as np
import pytest
import torch

from heedful.rationale.graph.encoder import GraphConfig, make_batch
from heedful.rationale.lm.forward import can_cache, label_loss, lower_states, upper_hidden
from heedful.rationale.lm.inject import ConditionedLM, InjectConfig, default_layers
from heedful.rationale.lm.model import RationaleLM, RationaleLMConfig, load_rationale_lm

from ..conftest import LM_FAMILIES, dialogue, tiny_lm


def open_gates(clm: ConditionedLM, value: float = 0.7) -> None:
    with torch.no_grad():
        for block in clm.blocks():
            block.attn_gate.gate.fill_(value)
            block.ff_gate.gate.fill_(value)


def cond(batch=2, n=5, dim=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(batch, n, dtype=torch.bool)
    mask[0, -2:] = False
    return torch.randn(batch, n, dim, generator=g), mask


IDS = torch.tensor([[5, 9, 14, 3, 22, 40, 7, 11], [6, 6, 18, 33, 4, 9, 70, 12]])


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_closed_gates_leave_the_model_unchanged(family):
    base = tiny_lm(family)
    clm = ConditionedLM(copy.deepcopy(base), InjectConfig(layers=(1, 2), cond_dim=16))
    tokens, mask = cond()
    with clm.condition(tokens, mask):
        got = clm.lm(IDS).logits
    assert torch.equal(got, base(IDS).logits)


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_open_gates_make_the_condition_matter(family):
    clm = ConditionedLM(tiny_lm(family), InjectConfig(layers=(1, 2), cond_dim=16)).eval()
    open_gates(clm)
    a, b = cond(seed=0), cond(seed=1)
    with clm.condition(*a):
        la = clm.lm(IDS).logits
    with clm.condition(*b):
        lb = clm.lm(IDS).logits
    assert not torch.allclose(la, lb, atol=1e-4)
    with clm.condition(*a):  # deterministic: the same condition gives the same logits
        assert torch.allclose(clm.lm(IDS).logits, la)


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_generate_with_and_without_cache_agree(family):
    clm = ConditionedLM(tiny_lm(family), InjectConfig(layers=(1, 3), cond_dim=16)).eval()
    open_gates(clm, 1.5)
    kw = dict(max_new_tokens=10, do_sample=False, pad_token_id=0)
    with clm.condition(*cond()):
        cached = clm.lm.generate(IDS, use_cache=True, **kw)
        plain = clm.lm.generate(IDS, use_cache=False, **kw)
        beams = clm.lm.generate(IDS, use_cache=True, num_beams=3, num_return_sequences=2, **kw)
    assert torch.equal(cached, plain)
    assert beams.shape[0] == 4  # the condition of batch 2 served 2 × 3 beam rows


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_wrapped_layers_keep_the_lms_state_dict_names(family):
    base = tiny_lm(family)
    original = {k: v.clone() for k, v in base.state_dict().items()}
    clm = ConditionedLM(base, InjectConfig(layers=(1, 2), cond_dim=16))
    wrapped = clm.lm.state_dict()
    added = {k for k in wrapped if ".xattn." in k}
    assert added and set(wrapped) - added == set(original)  # no "...layers.1.layer.self_attn..." names
    assert all(torch.equal(wrapped[k], original[k]) for k in original)
    # the plain LM's checkpoint (here changed) loads strictly into the wrapped model
    changed = {k: v + 1 for k, v in original.items()} | {k: wrapped[k] for k in added}
    clm.lm.load_state_dict(changed, strict=True)
    key = next(k for k in original if ".layers.1." in k)
    assert torch.equal(clm.lm.state_dict()[key], original[key] + 1)


def test_fusion_params_are_the_new_weights_only():
    clm = ConditionedLM(tiny_lm(), InjectConfig(layers=(1, 2), cond_dim=16))
    fusion = {id(p) for p in clm.fusion_params()}
    named = {n for n, p in clm.named_parameters() if id(p) in fusion}
    assert named and all(".xattn." in n or n.startswith("tokens.") for n in named)
    assert sum(p.numel() for p in clm.fusion_params()) == sum(
        p.numel() for n, p in clm.named_parameters() if ".xattn." in n or n.startswith("tokens.")
    )


def test_condition_batch_must_divide_rows():
    clm = ConditionedLM(tiny_lm(), InjectConfig(layers=(1,), cond_dim=16))
    with clm.condition(*cond(batch=3)), pytest.raises(ValueError, match="batch 3"):
        clm.lm(IDS)


def test_unknown_family_and_bad_layers_are_clear_errors():
    from transformers import GPTBigCodeConfig, GPTBigCodeForCausalLM

    odd = GPTBigCodeForCausalLM(GPTBigCodeConfig(n_embd=16, n_layer=2, n_head=2, vocab_size=32))
    with pytest.raises(ValueError, match="unknown layer family 'gpt_bigcode'"):
        ConditionedLM(odd, InjectConfig())
    with pytest.raises(ValueError, match=r"outside the model's 0\.\.3"):
        ConditionedLM(tiny_lm(), InjectConfig(layers=(4,)))
    assert default_layers(18) == (9, 12, 15)


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_cached_lower_layers_and_label_head_match_the_full_model(family):
    clm = ConditionedLM(tiny_lm(family), InjectConfig(layers=(2, 3), cond_dim=16)).eval()
    open_gates(clm)
    mask = torch.ones_like(IDS)
    mask[1, -3:] = 0  # right padding
    labels = IDS.masked_fill(mask == 0, -100)
    labels[:, :4] = -100
    assert can_cache(clm)
    with clm.condition(*cond()):
        full = clm.lm(IDS, attention_mask=mask, labels=labels)
        hidden = upper_hidden(clm, lower_states(clm, IDS, mask), mask)
        loss, n = label_loss(clm.lm, hidden, labels)
    assert n == int((labels[:, 1:] != -100).sum())
    assert torch.allclose(loss, full.loss, atol=1e-5)


def graph_inputs(n_samples=2, text_dim=8):
    lines = [("A", ["Neutral"], "你好"), ("B", ["Anger"], "走开"), ("A", ["Sad"], "为什么")]
    samples = [dialogue(lines[: 2 + i % 2], sample_id=f"s{i}") for i in range(n_samples)]
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(len(s.utterances), text_dim)).astype(np.float32) for s in samples]
    return samples, feats


def tiny_rationale_lm(mode="both", family="llama", seed=0):
    graph = GraphConfig(text_dim=8, hidden=16, heads=2, layers=1, dropout=0.0)
    cfg = RationaleLMConfig(lm="tiny", mode=mode, graph=graph, inject=InjectConfig(layers=(2,), n_latents=3))
    cfg.lora.dropout = 0.0
    torch.manual_seed(seed)
    return RationaleLM(tiny_lm(family), cfg)


def test_one_step_changes_only_trainable_parameters():
    model = tiny_rationale_lm()
    samples, feats = graph_inputs()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any(".xattn." in n for n in trainable)
    assert all(n.startswith(("graph.", "clm.tokens.")) or "lora_" in n or ".xattn." in n for n in trainable)
    assert not any("lora_" in n for n in trainable if ".layers.0." in n or ".layers.1." in n)  # below layer 2
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    labels = IDS.clone()
    labels[:, :3] = -100
    with model.condition(make_batch(samples, feats, model.cfg.graph)):
        loss, _ = label_loss(model.lm, upper_hidden(model.clm, None, torch.ones_like(IDS), IDS), labels)
    loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert any("gate" in n for n in changed)


def test_saved_trainable_weights_reload_to_identical_generations(tmp_path):
    model = tiny_rationale_lm(seed=1).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.3)  # as if trained: gates open, LoRA B non-zero
    samples, feats = graph_inputs()
    model.save(tmp_path)
    base = tiny_lm()  # the same frozen weights, rebuilt
    again, _, meta = load_rationale_lm(tmp_path, lm=base)
    assert meta["model"]["mode"] == "both"
    kw = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
    outs = []
    for m in (model, again):
        with torch.no_grad(), m.condition(make_batch(samples, feats, m.cfg.graph)):
            outs.append(m.lm.generate(IDS, **kw))
    assert torch.equal(outs[0], outs[1])
    frozen = tiny_lm()
    with torch.no_grad():
        assert not torch.equal(frozen(IDS).logits, again.lm(IDS).logits)  # the adapters did load


def test_corrupt_or_mismatched_checkpoint_is_a_clear_error(tmp_path):
    model = tiny_rationale_lm()
    model.save(tmp_path)
    (tmp_path / "adapter.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        load_rationale_lm(tmp_path, lm=tiny_lm())
    other = tiny_rationale_lm(mode="retrieval")
    other.save(tmp_path)  # retrieval weights, but claim both
    import json

    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["model"]["mode"] = "both"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="do not match this model"):
        load_rationale_lm(tmp_path, lm=tiny_lm())
