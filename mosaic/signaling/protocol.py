"""The signaling protocol, version 1: every message a client may send, as a typed schema.

A frame is one JSON object. Requests carry an ``id`` (echoed by the ``reply`` or ``error`` that
answers them) and a ``type``. Anything else — unknown type or field, wrong type, oversize — is
answered with a typed error and changes nothing. ``docs/protocol.md`` describes the whole
exchange; this module is its single source of truth for what clients may say.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from mosaic.domain.roster import Source
from mosaic.domain.settings import MeetingSettings
from mosaic.domain.text import (
    MAX_CHAT_CHARS,
    MAX_E2EE_CHAT_CHARS,
    MAX_NAME_CHARS,
    clean_chat,
    clean_chat_or_ciphertext,
    clean_name,
)

SUBPROTOCOL = "mosaic.v1"
MAX_FRAME_BYTES = 64 * 1024
MAX_SDP_CHARS = 48 * 1024
MAX_VIEW_ENTRIES = 64
REACTIONS = ("👍", "👏", "❤️", "😂", "😮", "🎉")

ParticipantId = Annotated[str, Field(pattern=r"^p[0-9a-f]{12}$")]


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    # Cluster mode: Redis cannot be reached, so a join or resume cannot be placed now.
    UNAVAILABLE = "unavailable"


class ProtocolError(Exception):
    """A request that cannot be carried out; becomes an ``error`` frame for its sender only."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        request_id: int | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.reason = reason  # machine-readable detail (locked, removed...), for clients' texts

    def frame(self) -> dict[str, Any]:
        frame = {"type": "error", "id": self.request_id, "code": self.code, "message": self.message}
        if self.reason:
            frame["reason"] = self.reason
        return frame


def name_taken(request_id: int | None = None) -> ProtocolError:
    """A name that would pass for a present host's or co-host's (`domain.meeting.NameTaken`)."""
    return ProtocolError(
        ErrorCode.FORBIDDEN, "this name is a host's", request_id, reason="name_taken"
    )


# The one rule for user text (mosaic.domain.text): names, chat, report reasons.
DisplayName = Annotated[str, Field(max_length=4 * MAX_NAME_CHARS), AfterValidator(clean_name)]
ChatText = Annotated[
    str, Field(min_length=1, max_length=2 * MAX_CHAT_CHARS), AfterValidator(clean_chat)
]
# Chat that may be end-to-end encrypted ("e2ee:" ciphertext, relayed as it is: docs/e2ee.md).
ChatOrCiphertext = Annotated[
    str,
    Field(min_length=1, max_length=max(2 * MAX_CHAT_CHARS, MAX_E2EE_CHAT_CHARS)),
    AfterValidator(clean_chat_or_ciphertext),
]
Base64Url = r"^[A-Za-z0-9_-]+$"


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=MAX_SDP_CHARS)

    id: int = Field(ge=0, le=2**31 - 1)


# -- entering and leaving ------------------------------------------------------------------


class Join(Request):
    type: Literal["join"]
    meeting: str = Field(min_length=1, max_length=40)
    name: DisplayName
    passcode: str | None = Field(default=None, max_length=64)
    device: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{16,64}$")


class Resume(Request):
    """Come back on a new connection after the old one dropped (token from the join reply)."""

    type: Literal["resume"]
    # Signed by the server (mosaic.signaling.resume): a base64url body, a dot, a MAC.
    token: str = Field(max_length=4000, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$")


class Leave(Request):
    type: Literal["leave"]


class Ping(Request):
    type: Literal["ping"]


# -- media -----------------------------------------------------------------------------------


class Publish(Request):
    """The client's offer for its publish connection, and what each m-section carries."""

    type: Literal["publish"]
    sdp: str = Field(max_length=MAX_SDP_CHARS)
    sources: dict[Annotated[str, Field(max_length=16)], Source] = Field(max_length=8)


class Answer(Request):
    """The client's answer to the server's offer on the subscribe connection."""

    type: Literal["answer"]
    sdp: str = Field(max_length=MAX_SDP_CHARS)


class IceCandidate(Request):
    type: Literal["ice"]
    pc: Literal["publish", "subscribe"]
    candidate: str | None = Field(default=None, max_length=1024)
    mid: str | None = Field(default=None, max_length=16)


class Restart(Request):
    """Start one of one's connections afresh (its ICE failed): the server sets up a new one
    (for `subscribe`, with a new offer; `publish` restarts by publishing a new offer)."""

    type: Literal["restart"]
    pc: Literal["subscribe"]


class SetMedia(Request):
    """Turn one of one's own sources on or off (microphone mute, camera, screen share)."""

    type: Literal["media"]
    source: Source
    on: bool


class ViewedVideo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    participant: ParticipantId
    source: Literal[Source.CAMERA, Source.SCREEN] = Source.CAMERA
    width: int = Field(ge=0, le=7680)
    height: int = Field(ge=0, le=4320)


class View(Request):
    """What the client shows right now, at which size: only these videos are sent to it."""

    type: Literal["view"]
    videos: list[ViewedVideo] = Field(max_length=MAX_VIEW_ENTRIES)
    # Data saver: a cap on what this viewer receives (kbit/s; None: its link decides).
    max_kbps: int | None = Field(default=None, ge=64, le=20000, strict=True)


# -- the room ----------------------------------------------------------------------------------


class Chat(Request):
    type: Literal["chat"]
    text: ChatOrCiphertext
    to: ParticipantId | None = None


class Hand(Request):
    type: Literal["hand"]
    raised: bool


class React(Request):
    type: Literal["react"]
    emoji: Literal[REACTIONS]  # type: ignore[valid-type]


class Rename(Request):
    type: Literal["rename"]
    name: DisplayName
    participant: ParticipantId | None = None


# -- end-to-end encryption (docs/e2ee.md): opaque to the server --------------------------------


class E2eeHello(Request):
    """Publish this client's ephemeral public key (shown in its roster entry as ``e2ee_key``)."""

    type: Literal["e2ee.hello"]
    public_key: str = Field(min_length=1, max_length=100, pattern=Base64Url)


class E2eeKey(Request):
    """A meeting key wrapped for one participant; relayed to them alone, never kept."""

    type: Literal["e2ee.key"]
    to: ParticipantId
    epoch: int = Field(ge=0, le=2**31 - 1, strict=True)
    blob: str = Field(min_length=1, max_length=200, pattern=Base64Url)


# -- host controls ---------------------------------------------------------------------------


class Admit(Request):
    """Let waiting people in: the listed ones, or everyone waiting with ``all``."""

    type: Literal["admit"]
    participants: list[ParticipantId] = Field(default_factory=list, max_length=1000)
    all: bool = False


class Deny(Request):
    type: Literal["deny"]
    participants: list[ParticipantId] = Field(default_factory=list, max_length=1000)
    all: bool = False


class Remove(Request):
    type: Literal["remove"]
    participant: ParticipantId


class Mute(Request):
    """Turn off someone's microphone, camera or screen share."""

    type: Literal["mute"]
    participant: ParticipantId
    source: Source = Source.MICROPHONE


class MuteAll(Request):
    type: Literal["mute_all"]


class LowerHand(Request):
    type: Literal["lower_hand"]
    participant: ParticipantId


class Lock(Request):
    type: Literal["lock"]
    locked: bool


class ChangeSettings(Request):
    """Replace some of the meeting's settings for the rest of the meeting."""

    type: Literal["settings"]
    settings: dict[str, Any] = Field(max_length=20)

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = set(value) - set(MeetingSettings.model_fields)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return value


class Spotlight(Request):
    type: Literal["spotlight"]
    participants: list[ParticipantId] = Field(max_length=2)


class Cohost(Request):
    type: Literal["cohost"]
    participant: ParticipantId
    cohost: bool


class Suspend(Request):
    type: Literal["suspend"]


class End(Request):
    type: Literal["end"]


class ReportParticipant(Request):
    type: Literal["report"]
    participant: ParticipantId
    reason: Annotated[ChatText, Field(max_length=1000)]


class AuditLog(Request):
    type: Literal["audit_log"]


# -- breakout rooms (mosaic.domain.breakouts) -------------------------------------------------

BreakoutRoomId = Annotated[str, Field(pattern=r"^b[1-9][0-9]?$")]


class BreakoutRoomSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: DisplayName


class BreakoutsCreate(Request):
    type: Literal["breakouts.create"]
    rooms: list[BreakoutRoomSpec] = Field(min_length=1, max_length=50)
    mode: Literal["manual", "balanced", "random", "choose"] = "manual"


class BreakoutsRename(Request):
    type: Literal["breakouts.rename"]
    room_id: BreakoutRoomId
    name: DisplayName


class BreakoutsAssign(Request):
    """Place people by hand (``assignments``, null: main) or all at once (``auto``)."""

    type: Literal["breakouts.assign"]
    assignments: dict[ParticipantId, BreakoutRoomId | None] = Field(
        default_factory=dict, max_length=1000
    )
    auto: Literal["balanced", "random"] | None = None


class BreakoutsOpen(Request):
    type: Literal["breakouts.open"]
    # The timer, in minutes or (short exercises, tests) seconds; neither: no timer.
    minutes: int | None = Field(default=None, ge=1, le=720)
    seconds: int | None = Field(default=None, ge=10, le=43200)
    allow_return: bool = True
    late_joiners: Literal["host", "choose"] = "host"


class BreakoutsExtend(Request):
    type: Literal["breakouts.extend"]
    minutes: int = Field(ge=1, le=120)


class BreakoutsBroadcast(Request):
    type: Literal["breakouts.broadcast"]
    text: ChatOrCiphertext  # ciphertext, as chat, in an encrypted meeting


class BreakoutsMove(Request):
    """Go to a room oneself (null: the main room)."""

    type: Literal["breakouts.move"]
    room_id: BreakoutRoomId | None


class BreakoutsCohost(Request):
    """Make a participant co-host of one room (``room_id`` null: no longer)."""

    type: Literal["breakouts.cohost"]
    participant: ParticipantId
    room_id: BreakoutRoomId | None


class BreakoutsHelp(Request):
    type: Literal["breakouts.help"]


class BreakoutsClose(Request):
    type: Literal["breakouts.close"]


class RecordingStart(Request):
    """Start the server's recording of the meeting (host; co-hosts if the host lets them)."""

    type: Literal["recording.start"]


class RecordingStop(Request):
    type: Literal["recording.stop"]


ClientMessage = Annotated[
    Join
    | Resume
    | Leave
    | Ping
    | Publish
    | Answer
    | IceCandidate
    | Restart
    | SetMedia
    | View
    | Chat
    | Hand
    | React
    | Rename
    | E2eeHello
    | E2eeKey
    | Admit
    | Deny
    | Remove
    | Mute
    | MuteAll
    | LowerHand
    | Lock
    | ChangeSettings
    | Spotlight
    | Cohost
    | Suspend
    | End
    | ReportParticipant
    | AuditLog
    | BreakoutsCreate
    | BreakoutsRename
    | BreakoutsAssign
    | BreakoutsOpen
    | BreakoutsExtend
    | BreakoutsBroadcast
    | BreakoutsMove
    | BreakoutsCohost
    | BreakoutsHelp
    | BreakoutsClose
    | RecordingStart
    | RecordingStop,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
MESSAGE_TYPES = frozenset(
    model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for model in ClientMessage.__origin__.__args__  # type: ignore[attr-defined]
)


def parse_client_message(frame: str | bytes) -> ClientMessage:
    """Validate one frame from a client; raise `ProtocolError` (bad_request) on anything off."""
    if isinstance(frame, bytes):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "binary frames are not part of the protocol")
    if len(frame) > MAX_FRAME_BYTES or len(frame.encode("utf-8", "surrogatepass")) > (
        MAX_FRAME_BYTES
    ):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"frame larger than {MAX_FRAME_BYTES} bytes")
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "frame must be a JSON object")
    request_id = data.get("id")
    echo = request_id if isinstance(request_id, int) and 0 <= request_id < 2**31 else None
    if data.get("type") not in MESSAGE_TYPES:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "unknown message type", echo)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, _describe(exc), echo) from None


def _describe(exc: ValidationError) -> str:
    """A short, safe description of what was wrong: field paths and reasons, never the input."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:3]:
        where = ".".join(str(p) for p in error["loc"][1:]) or "message"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
