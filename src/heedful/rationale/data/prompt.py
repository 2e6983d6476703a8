"""Prompts in the seed's ``build_prompt`` layout and the official scoring string, with its parser.

Layout (seed 000, route 2): ``Context:`` (one indented line per utterance with speaker and emotions), then
``Retrieved Examples:`` (stimulus / appraisal / response of each retrieved rationale), then the instruction, which
also names the change to explain (speaker, from → to, utterance span): without it the model cannot know which of
several changes in a dialogue is asked about.
"""

from __future__ import annotations

from heedful.rationale.data.schema import Rationale, Sample

INSTRUCTION = "Now explain the emotional change in this dialogue:"
SEPARATORS = "；。"


HIDDEN = "…"  # an utterance's text when the prompt leaves it out (the condition tokens carry it)


def format_context(sample: Sample, indent: str = "  ", with_text: bool = True) -> str:
    return "\n".join(
        f"{indent}{u.speaker} [{','.join(u.emotion)}]: {u.text if with_text else HIDDEN}" for u in sample.utterances
    )


def describe_change(sample: Sample) -> str:
    c = sample.emo_change
    return (
        f"{sample.target_speaker}: {','.join(c.from_emotion)} -> {','.join(c.to_emotion)} "
        f"(utterances {c.start_idx + 1}-{c.end_idx + 1})"
    )


def format_example(i: int, r: Rationale) -> str:
    lines = [f"Example {i}:", f"Stimulus: {r.textual}"]
    if r.visual:
        lines.append(f"Visual stimulus: {r.visual}")
    lines += [f"Appraisal: {r.appraisal}", f"Response: {r.response}"]
    return "\n".join(lines) + "\n"


SCENE = "画面："  # the verbalised video's line in the prompt


def build_prompt(
    sample: Sample,
    retrieved: list[Rationale] = (),
    instruction: str = INSTRUCTION,
    with_text: bool = True,
    scene: str | None = None,
) -> str:
    """Context + retrieved examples + instruction (the seed's layout); an empty list gives a zero-shot prompt.
    ``with_text=False`` keeps speakers and emotions but not what was said (the condition has to carry it);
    ``scene`` (verbalised video, e.g. ``B皱眉``) adds a line ``画面：B皱眉`` after the context."""
    prompt = "Context:\n" + format_context(sample, with_text=with_text) + "\n"
    if scene:
        prompt += f"{SCENE}{scene}\n"
    prompt += "\n"
    if retrieved:
        prompt += "Retrieved Examples:\n" + "\n".join(format_example(i + 1, r) for i, r in enumerate(retrieved))
        prompt += "\n"
    return prompt + f"Emotion change: {describe_change(sample)}\n{instruction}\n"


def apply_chat(tokenizer, prompt: str) -> str:
    """The prompt wrapped in the LM's chat template (as one user turn, generation prompt added) when it has one."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt


def _clean(text: str | None) -> str:
    return (text or "").strip().rstrip(SEPARATORS).strip()


def scoring_string(r: Rationale) -> str:
    """The official ``"{textual}；{visual}。{appraisal}。{response}。"``, the visual part dropped when null."""
    stimulus = _clean(r.textual) + (f"；{_clean(r.visual)}" if _clean(r.visual) else "")
    return f"{stimulus}。{_clean(r.appraisal)}。{_clean(r.response)}。"


def parse_scoring_string(text: str) -> Rationale:
    """Back to fields. Lenient for generated text: a missing part is empty, extra ``。`` stay in the appraisal."""
    parts = [p.strip() for p in text.strip().rstrip("。").split("。")]
    stimulus = parts[0] if parts else ""
    response = parts[-1] if len(parts) >= 3 else ""
    appraisal = "。".join(parts[1:-1]) if len(parts) >= 3 else (parts[1] if len(parts) == 2 else "")
    textual, _, visual = stimulus.partition("；")
    return Rationale(textual=textual.strip(), visual=visual.strip() or None, appraisal=appraisal, response=response)
