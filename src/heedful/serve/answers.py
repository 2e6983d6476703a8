"""Answer bodies of the service, for its OpenAPI page and a check of every 200 it sends. They accept keys they do
not name (a model may say more than the page documents); the app sends only the keys a model gave
(``response_model_exclude_unset``), so an answer equals the library's own output."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

Id = StrictStr | StrictInt
# per time step; per output step and input step; per head too
Weights = list[float] | list[list[float]] | list[list[list[float]]]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ProcessModelInfo(Answer):
    name: str = Field(description="the run folder's name: the `model` field of a request")
    task: str
    kind: str = Field(description="classification, sequence_classification, regression or sequence_regression")
    model: str | None = Field(None, description="the network, e.g. bigru_attn")
    variables: list[str] = Field(description="the input variables a window holds, in order")
    window_length: int | None = Field(None, description="the exact steps of a window; null: any length from 2 on")
    classes: list[str] | None = None
    targets: list[str] | None = None


class RationaleModelInfo(Answer):
    method: str = Field(description="knn (nearest-neighbour copy) or lm (a trained rationale LM)")
    index: str | None = None
    key: str | None = None
    encoder: str | None = None
    model: str | None = None
    mode: str | None = None


class HealthAnswer(Answer):
    status: str = Field(description="ok")
    process: list[ProcessModelInfo]
    rationale: RationaleModelInfo | None
    queued: dict[str, int] = Field(description="requests waiting, per model")
    limits: dict[str, int] = Field(description="the service's limits on a request (--max-* flags), batch and queue")
    auth: bool = Field(description="whether every other path needs a bearer token")


class ProcessPrediction(Answer):
    """One window's answer: a class (or a class per step) with probabilities, or values; attention per step."""

    class_: str | None = Field(None, alias="class", description="the predicted class (classification)")
    classes: list[str] | None = Field(None, description="a class per time step (sequence classification)")
    probabilities: Weights | None = Field(None, description="per class (per step and class for sequences)")
    values: Weights | None = Field(None, description="the predicted values, in the units of the training data")
    attention: Weights | None = Field(None, description="the model's attention over the window's steps; null without")


class ProcessAnswer(Answer):
    model: str
    task: str
    kind: str
    predictions: list[ProcessPrediction] = Field(description="one per window, in order")
    window_ends: list[int] | None = Field(None, description="csv input: the row (exclusive) where each window ends")
    first_alarm: int | None = Field(
        None, description="csv input to a fault task: the end of the first window not called normal (null: none)"
    )


class Stimulus(Answer):
    textual: str | None = None
    visual: str | None = None


class StructuredRationale(Answer):
    stimulus: Stimulus
    appraisal: str
    response: str


class Neighbour(Answer):
    sample_id: Id
    score: float = Field(description="cosine similarity of the retrieval keys")


class UtteranceAttention(Answer):
    utterances: list[float] = Field(description="the share of attention each utterance got, summing to 1")
    latent_share: float | None = Field(None, description="the share that went to the learned latents instead")
    visual_share: float | None = Field(None, description="the share that went to the frames (video models)")


class RationalePrediction(Answer):
    sample_id: Id | None = None
    text: str = Field(description="the rationale as one string (the scoring string of the structured one)")
    rationale: StructuredRationale | None = None
    neighbours: list[Neighbour] | None = Field(None, description="knn: the indexed samples it was copied from")
    raw: str | None = Field(None, description="lm: the generated text before parsing")
    attention: UtteranceAttention | None = Field(None, description="with attention: true on an lm model")


class RationaleAnswer(Answer):
    method: str
    predictions: list[RationalePrediction] = Field(description="one per dialogue, in order")
