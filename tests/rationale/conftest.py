from pathlib import Path

import pytest

from heedful.rationale.data.schema import EmoChange, Rationale, Sample, Utterance

# research data lives beside the repository (../shared), never inside it; tests that need it skip without it
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MECR = SHARED / "data" / "mecr"


@pytest.fixture
def mecr() -> Path:
    if not (MECR / "train.json").is_file():
        pytest.skip("research data ../shared/data/mecr absent")
    return MECR


def dialogue(lines, change=None, sample_id="hand", clip=None, rationale=None) -> Sample:
    """A hand-made sample from (speaker, emotions, text) lines; change (start, end) or None to infer."""
    from heedful.rationale.data.schema import infer_change

    utts = tuple(Utterance(f"{sample_id}_{i}", text, spk, tuple(emo)) for i, (spk, emo, text) in enumerate(lines))
    if change is None:
        c = infer_change(utts, sample_id)
    else:
        c = EmoChange(change[0], change[1], utts[change[0]].emotion, utts[change[1]].emotion)
    return Sample(sample_id, utts, c, rationale or Rationale("刺激", None, "评价", "反应"), clip_id=clip or sample_id)


def inside_record(sample_id="s1", **over) -> dict:
    rec = {
        "sample_id": sample_id,
        "video_path": f"clips/{sample_id}.mp4",
        "utterances": [
            {
                "utt_id": "u1",
                "text": "你好。",
                "speaker": "A",
                "start_sec": 0.0,
                "end_sec": 1.0,
                "emotion": ["Neutral"],
            },
            {"utt_id": "u2", "text": "走开！", "speaker": "B", "start_sec": 1.0, "end_sec": 2.0, "emotion": ["Anger"]},
            {
                "utt_id": "u3",
                "text": "你怎么这样？",
                "speaker": "A",
                "start_sec": 2.0,
                "end_sec": 3.0,
                "emotion": ["Sad"],
            },
        ],
        "key_frames": [],
        "emo_change": {},
        "rationale": {
            "stimulus": {"textual": "B让A走开", "visual": None},
            "appraisal": "A觉得B无礼",
            "response": "A难过",
        },
    }
    rec.update(over)
    return rec


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with a character vocabulary, saved locally: no download."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted(set("我你他她它们的了是不在有人这那好很生气难过开心害怕惊讶厌恶猫坐垫子上呀啊吗。，！？ABC"))
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n")
    # transformers 5 takes ``vocab=``; ``vocab_file=`` is ignored and left every character [UNK]
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), tokenize_chinese_chars=True)
    assert tokenizer.tokenize("我很生气") == ["我", "很", "生", "气"]
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(chars), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(folder)
    return folder


def tiny_lm(family: str = "llama", seed: int = 0, layers: int = 4, vocab: int = 260):
    """A randomly initialised causal LM of the given family, small enough for unit tests."""
    import torch
    from transformers import AutoModelForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    configs = {
        "llama": lambda: LlamaConfig(**common),
        "qwen2": lambda: Qwen2Config(**common),
        "gemma3_text": lambda: Gemma3TextConfig(
            **common,
            head_dim=8,
            sliding_window=8,
            query_pre_attn_scalar=8,
            layer_types=["full_attention" if i % 3 == 2 else "sliding_attention" for i in range(layers)],
        ),
    }
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(configs[family]()).eval()


LM_FAMILIES = ("llama", "gemma3_text")


def tiny_tokenizer():
    """Byte-level tokenizer (256 bytes + pad/bos/eos/unk = 260 ids): any text, no files, no downloads."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<bos>", "<eos>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
