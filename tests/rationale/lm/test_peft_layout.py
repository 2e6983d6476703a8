"""The exported LoRA opens with PEFT's own loader and computes what heedful's model computes without a condition."""

import json

import pytest
import torch

from heedful.rationale.lm.model import RationaleLM, RationaleLMConfig
from heedful.rationale.lm.peft_layout import lora_tensors, peft_name, save_peft_lora
from rationale.conftest import tiny_lm


def test_peft_name():
    name = "model.layers.3.layer.self_attn.q_proj.lora_A.default.weight"
    assert peft_name(name) == "base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"
    plain = peft_name("model.layers.13.self_attn.o_proj.lora_B.default.weight")
    assert plain.endswith("13.self_attn.o_proj.lora_B.weight")


@pytest.mark.parametrize("family", ["llama", "gemma3_text"])
def test_peft_model_loads_the_export(tmp_path, family):
    from peft import PeftModel

    base = tmp_path / "base"
    tiny_lm(family).save_pretrained(base)
    cfg = RationaleLMConfig.from_dict({"lm": str(base), "mode": "xattn", "inject": {"layers": [2]}})
    model = RationaleLM(tiny_lm(family), cfg).eval()
    torch.manual_seed(1)
    with torch.no_grad():  # LoRA B starts at zero: give it weights so the check means something
        for name, p in model.clm.lm.named_parameters():
            if ".lora_B." in name:
                p.normal_(0, 0.5)
    out = save_peft_lora(model, tmp_path / "run", str(base))
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == cfg.lora.r
    assert config["base_model_name_or_path"] == str(base)

    from transformers import AutoModelForCausalLM

    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out).eval()
    loaded = {n.replace(".default", ""): p for n, p in peft.named_parameters() if "lora_" in n}
    ours = lora_tensors(model)
    assert loaded.keys() == ours.keys() and len(ours) > 0
    for name, tensor in ours.items():
        assert torch.equal(loaded[name], tensor), name
    ids = torch.randint(3, 250, (2, 9))
    plain = AutoModelForCausalLM.from_pretrained(base).eval()
    with torch.no_grad():
        theirs, ours_logits = peft(input_ids=ids).logits, model.clm.lm(input_ids=ids).logits
        no_lora = plain(input_ids=ids).logits
    assert torch.allclose(theirs, ours_logits, atol=1e-5)
    assert not torch.allclose(theirs, no_lora, atol=1e-3)  # the adapter changes the output


def test_no_lora_writes_nothing(tmp_path):
    cfg = RationaleLMConfig.from_dict({"lm": "x", "mode": "zeroshot"})
    model = RationaleLM(tiny_lm(), cfg)
    assert save_peft_lora(model, tmp_path, "x") is None
    assert not (tmp_path / "lora").exists()
