"""Request bodies of the service. Unknown fields are refused, numbers must be finite JSON numbers (no strings, no
NaN / Infinity); the limits that depend on the service's settings are checked by the handlers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
# ids in a request are strings: never a number, a bool (lax mode made true the id "1") or null; leave an id out
# for the default one (``Id = None``: the default is not validated)
Id = StrictStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProcessRequest(Strict):
    """Windows of raw values, or a CSV text; exactly one of the two."""

    model: str | None = Field(None, description="which loaded process run (its folder name); needed with several")
    windows: list[list[list[Finite]]] | None = Field(
        None, description="windows, each a list of time steps, each a list of the run's input variables in order"
    )
    csv: str | None = Field(
        None,
        description="one row per time step, one column per variable (an optional header row names them); "
        "fixed-window models get sliding windows of it",
    )
    stride: int = Field(1, ge=1, strict=True, description="steps between sliding windows cut from csv")
    # the examples are the loaded models' own (heedful.serve.examples), set on the route


class ErrorBody(BaseModel):
    """Every refusal: what is wrong, the field it is about, and the limit when one applies."""

    error: str
    field: str | None = None
    limit: int | None = None
    problems: list[dict] | None = Field(None, description="422 from schema checks: the first few problems")


ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "malformed JSON"),
        (401, "missing or wrong bearer token"),
        (404, "no such model loaded"),
        (413, "body over --max-body-bytes"),
        (422, "a limit, a wrong shape or value, an unknown field"),
        (503, "the model's queue is full: retry after Retry-After seconds"),
    )
}


class Utterance(Strict):
    utt_id: Id = None
    text: str
    speaker: str
    start_sec: Finite | None = None
    end_sec: Finite | None = None
    emotion: list[str] = Field(description="one or more of the seven emotion labels, e.g. ['Neutral']")
    visual: list[Finite] | None = Field(
        None,
        description="the utterance's key-frame features (e.g. 512 CLIP floats); a model trained with --visual needs "
        "them on every utterance of the dialogue",
    )


class EmoChange(Strict):
    start_idx: int
    end_idx: int
    from_emotion: list[str]
    to_emotion: list[str]


class Stimulus(Strict):
    textual: str | None = None
    visual: str | None = None


class Rationale(Strict):
    stimulus: Stimulus
    appraisal: str
    response: str


class Dialogue(Strict):
    """One sample in the INSIDE format. An empty or missing ``emo_change`` is inferred (ends at the last
    utterance); a ``rationale`` (the reference) is accepted and ignored."""

    sample_id: Id = None
    video_path: str | None = None
    utterances: list[Utterance]
    key_frames: list[str] = Field(default_factory=list)
    emo_change: EmoChange | None = None
    rationale: Rationale | None = None

    @field_validator("emo_change", mode="before")
    @classmethod
    def _empty_change(cls, value):
        return None if value == {} else value


class RationaleRequest(Strict):
    dialogues: list[Dialogue]
    attention: bool = Field(
        False, strict=True, description="also return the model's attention over each dialogue's utterances"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dialogues": [
                        {
                            "sample_id": "q1",
                            "utterances": [
                                {"speaker": "A", "text": "今天的考试我没考好。", "emotion": ["Neutral"]},
                                {"speaker": "B", "text": "你又不复习，活该。", "emotion": ["Neutral"]},
                                {"speaker": "A", "text": "你怎么能这么说我！", "emotion": ["Anger"]},
                            ],
                        }
                    ],
                    "attention": False,
                }
            ]
        },
    )
