"""Nearest-neighbour copy baseline: predict the rationale of the most similar indexed sample.

Speaker letters differ between dialogues (the changing speaker is "A" in one, "B" in another), so the copied text
is relabelled by role: the neighbour's changing speaker becomes the query's, and the other speakers follow in order
of first appearance. Only standalone ASCII speaker names are replaced (e.g. the "A" in "A认为B…").
"""

from __future__ import annotations

import re

from heedful.rationale.data.schema import Rationale, Sample


def speakers_by_role(sample: Sample) -> list[str]:
    """The changing speaker first, then the others by first appearance."""
    target = sample.target_speaker
    return [target] + [s for s in sample.speakers if s != target]


def relabel(text: str | None, mapping: dict[str, str]) -> str | None:
    """Replace every standalone ASCII speaker name in one pass (so A→B, B→A swaps correctly)."""
    names = [n for n in mapping if re.fullmatch(r"[A-Za-z]+", n) and mapping[n] != n]
    if text is None or not names:
        return text
    pattern = re.compile(
        r"(?<![A-Za-z])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![A-Za-z])"
    )
    return pattern.sub(lambda m: mapping[m[1]], text)


def role_mapping(source_roles: list[str], target_roles: list[str]) -> dict[str, str]:
    return {s: t for s, t in zip(source_roles, target_roles, strict=False)}


def copy_rationale(rationale: Rationale, source_roles: list[str], query: Sample, swap: bool = True) -> Rationale:
    if not swap:
        return rationale
    mapping = role_mapping(source_roles, speakers_by_role(query))
    return Rationale(
        textual=relabel(rationale.textual, mapping),
        visual=relabel(rationale.visual, mapping),
        appraisal=relabel(rationale.appraisal, mapping),
        response=relabel(rationale.response, mapping),
    )
