"""The bus messages of a meeting spread over workers (`span`, `slices`), as schemas.

Every ``span_*`` message a worker hears is read through one of these models before anything
is done with it (`parse`: None for a malformed one, which the caller counts); the bounds are
far beyond any real message, so that a slice never holds more than that for anyone.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mosaic.domain.roster import Source
from mosaic.media.sfu.quality import FAIR, GOOD, POOR

HOME_KINDS = ("span_reply", "span_event", "span_condition")
MAX_ID = 200
MAX_SDP = 200_000


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    meeting: str = Field(min_length=1, max_length=MAX_ID)
    sender: str = Field(alias="from", min_length=1, max_length=MAX_ID)


M = TypeVar("M", bound=_Message)


class SpanCall(_Message):
    participant: str = Field(min_length=1, max_length=MAX_ID)
    op: Literal[
        "publish", "answer", "ice_candidate", "view", "admit", "resumed", "restart", "remove"
    ]
    args: dict[str, Any] = Field(default_factory=dict)
    call: str | None = Field(default=None, max_length=MAX_ID)


class GateEntry(BaseModel):
    """One participant as the home's `DomainGate` answers for it now."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    negotiate: frozenset[Source] = frozenset()
    forward: frozenset[Source] = frozenset()
    room: str | None = Field(default=None, max_length=MAX_ID)


class PeerEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str = Field(min_length=1, max_length=MAX_ID)
    secure: bool = False


class SpanGate(_Message):
    gate: dict[str, GateEntry | None] = Field(default_factory=dict)
    breakouts: bool | None = None
    placement: dict[str, str | None] = Field(default_factory=dict)
    peers: dict[str, PeerEntry] | None = None
    full: bool = False


class SpanMesh(_Message):
    mesh: dict[str, Any]


class SpanClose(_Message):
    pass


class SpanReply(_Message):
    call: str = Field(min_length=1, max_length=MAX_ID)
    result: Any = None
    error: dict[str, str] | None = None


class SpanEvent(_Message):
    participant: str = Field(min_length=1, max_length=MAX_ID)
    message: dict[str, Any]


class SpanCondition(_Message):
    participant: str = Field(min_length=1, max_length=MAX_ID)
    quality: Literal["good", "fair", "poor"]
    unstable: bool


assert {GOOD, FAIR, POOR} == {"good", "fair", "poor"}  # the Literal above says the same

# The arguments of each operation (a missing or odd one makes the call fail, typed).


class PublishArgs(BaseModel):
    sdp: str = Field(max_length=MAX_SDP)
    sources: dict[str, Source]


class AnswerArgs(BaseModel):
    sdp: str = Field(max_length=MAX_SDP)


class CandidateArgs(BaseModel):
    pc: str = Field(max_length=MAX_ID)
    candidate: str | None = Field(default=None, max_length=4000)
    mid: str | None = Field(default=None, max_length=MAX_ID)


class ViewArgs(BaseModel):
    videos: list[tuple[str, Source, int, int]] = Field(max_length=200)
    max_kbps: int | None = None


class RestartArgs(BaseModel):
    pc: str = Field(max_length=MAX_ID)


class NoArgs(BaseModel):
    pass


ARGS: dict[str, type[BaseModel]] = {
    "publish": PublishArgs,
    "answer": AnswerArgs,
    "ice_candidate": CandidateArgs,
    "view": ViewArgs,
    "restart": RestartArgs,
    "admit": NoArgs,
    "resumed": NoArgs,
    "remove": NoArgs,
}


def parse(model: type[M], message: dict[str, Any]) -> M | None:
    """The message as ``model`` reads it, or None (malformed: the caller counts it)."""
    try:
        return model.model_validate(message)
    except (ValidationError, TypeError, ValueError):
        return None
