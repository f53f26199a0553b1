"""Who is in a meeting, in what role and state.

A participant lives through ``waiting → admitted → left``, or ends ``denied`` (turned away from
the waiting room) or ``removed`` (put out by a host, and barred from coming back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    HOST = "host"
    COHOST = "cohost"
    PARTICIPANT = "participant"


class State(StrEnum):
    WAITING = "waiting"
    ADMITTED = "admitted"
    LEFT = "left"
    DENIED = "denied"
    REMOVED = "removed"


class Source(StrEnum):
    """What a published track carries; permissions and layout depend on it."""

    MICROPHONE = "microphone"
    CAMERA = "camera"
    SCREEN = "screen"
    SCREEN_AUDIO = "screen_audio"


@dataclass(slots=True)
class Participant:
    id: str
    name: str
    role: Role
    state: State
    joined_at: float
    user_id: int | None = None
    device_id: str | None = None
    # A pseudonym of the client address (a keyed hash), for bans; never shown to anyone.
    address: str | None = None
    # Sources the participant has turned on (a muted microphone is absent).
    sources: set[Source] = field(default_factory=set)
    hand_raised_at: float | None = None
    # Sources a host turned off; while the meeting forbids it, the participant may not turn
    # them back on (Zoom's "allow participants to unmute themselves").
    blocked_sources: set[Source] = field(default_factory=set)
    # How the media plane sees this participant's connection (see `mosaic.media.sfu.quality`):
    # "good", "fair" or "poor", and whether its uplink cannot carry even its lowest layer.
    quality: str = "good"
    uplink_unstable: bool = False
    # In an end-to-end encrypted meeting, this client's ephemeral public key (opaque to the
    # server): others wrap the meeting key to it (docs/e2ee.md). None until it says hello.
    e2ee_key: str | None = None

    @property
    def is_host_or_cohost(self) -> bool:
        return self.role in (Role.HOST, Role.COHOST)

    @property
    def admitted(self) -> bool:
        return self.state is State.ADMITTED

    def public(self) -> dict[str, object]:
        """What other participants may know about this one (no user id, no device)."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "audio": Source.MICROPHONE in self.sources,
            "video": Source.CAMERA in self.sources,
            "screen": Source.SCREEN in self.sources,
            "hand": self.hand_raised_at,
            "quality": self.quality,
            "uplink_unstable": self.uplink_unstable,
            "e2ee_key": self.e2ee_key,
        }


class Roster:
    """The participants of one meeting, keyed by participant id, in join order."""

    def __init__(self) -> None:
        self._participants: dict[str, Participant] = {}

    def add(self, participant: Participant) -> None:
        self._participants[participant.id] = participant

    def get(self, participant_id: str) -> Participant | None:
        return self._participants.get(participant_id)

    def discard(self, participant_id: str) -> Participant | None:
        return self._participants.pop(participant_id, None)

    def __len__(self) -> int:
        return len(self._participants)

    def admitted(self) -> list[Participant]:
        return [p for p in self._participants.values() if p.state is State.ADMITTED]

    def waiting(self) -> list[Participant]:
        return [p for p in self._participants.values() if p.state is State.WAITING]

    def hosts(self) -> list[Participant]:
        return [p for p in self.admitted() if p.is_host_or_cohost]
