from heedful.rationale.data.prompt import apply_chat, build_prompt, parse_scoring_string, scoring_string
from heedful.rationale.data.schema import Rationale

from ..conftest import dialogue

LINES = [("A", ["Neutral"], "你好。"), ("B", ["Anger"], "别烦我！"), ("A", ["Sad"], "我只是想帮你。")]


def test_scoring_string_with_and_without_visual():
    r = Rationale("B让A别烦他", "B摔门而去", "A觉得B不领情", "A感到难过")
    assert scoring_string(r) == "B让A别烦他；B摔门而去。A觉得B不领情。A感到难过。"
    r = Rationale("B让A别烦他。", None, "A觉得B不领情。", "A感到难过")  # stray full stops are not doubled
    assert scoring_string(r) == "B让A别烦他。A觉得B不领情。A感到难过。"


def test_parser_inverts_the_scoring_string_and_tolerates_generated_text():
    for r in [Rationale("甲", "乙", "丙", "丁"), Rationale("甲", None, "丙", "丁")]:
        assert parse_scoring_string(scoring_string(r)) == r
    assert parse_scoring_string("只有刺激") == Rationale("只有刺激", None, "", "")
    assert parse_scoring_string("刺激。评价") == Rationale("刺激", None, "评价", "")
    assert parse_scoring_string("刺激。评价一。评价二。反应。") == Rationale("刺激", None, "评价一。评价二", "反应")


def test_prompt_follows_the_seed_layout():
    sample = dialogue(LINES)
    examples = [Rationale("X做了某事", "X皱眉", "Y觉得不公平", "Y生气"), Rationale("Z离开", None, "W失落", "W难过")]
    prompt = build_prompt(sample, examples)
    assert prompt == (
        "Context:\n  A [Neutral]: 你好。\n  B [Anger]: 别烦我！\n  A [Sad]: 我只是想帮你。\n\n"
        "Retrieved Examples:\n"
        "Example 1:\nStimulus: X做了某事\nVisual stimulus: X皱眉\nAppraisal: Y觉得不公平\nResponse: Y生气\n\n"
        "Example 2:\nStimulus: Z离开\nAppraisal: W失落\nResponse: W难过\n\n"
        "Emotion change: A: Neutral -> Sad (utterances 1-3)\n"
        "Now explain the emotional change in this dialogue:\n"
    )
    assert "Retrieved Examples" not in build_prompt(sample, [])  # zero-shot


class ChatTokenizer:
    chat_template = "{{ messages }}"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert not tokenize and add_generation_prompt
        return f"<user>{messages[0]['content']}</user><assistant>"


class PlainTokenizer:
    chat_template = None


def test_chat_template_only_when_the_tokenizer_has_one():
    assert apply_chat(ChatTokenizer(), "hi") == "<user>hi</user><assistant>"
    assert apply_chat(PlainTokenizer(), "hi") == "hi"
