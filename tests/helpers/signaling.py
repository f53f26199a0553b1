"""A signaling room without sockets, for unit tests of the handlers in `mosaic.signaling`.

Everything is real except the edges: the `Room`, the domain and the handlers run as in the
server, the audit trail is the real store on a SQLite file. Only the outbound transport of each
participant (an `Inbox` in place of the `Outbox` that writes to a WebSocket) and the media plane
(`MediaCalls`, which records what the room asked of it) are stand-ins, so that a test reads what
each participant would have been sent. Requests go through the protocol's own parser, as a
client's frames do.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mosaic.domain.access import Visitor
from mosaic.domain.ids import new_participant_id
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.roster import Participant, Source
from mosaic.domain.settings import InstancePolicy, MeetingSettings
from mosaic.signaling.commands import dispatch
from mosaic.signaling.outbox import Outbox, encode
from mosaic.signaling.protocol import parse_client_message
from mosaic.signaling.room import Member, Room, RoomServices, roster_flush_interval
from mosaic.store.audit import Audit
from mosaic.store.db import Database

HOST_USER = 1
MEETING_ID = "abcd-efgh-jkmn"


class Inbox:
    """One participant's outbound transport: keeps every frame the room would have written to
    its WebSocket (the `Outbox` interface the room uses), and how the connection was closed."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.overflowed = asyncio.Event()

    def put(self, text: str) -> None:
        self.frames.append(json.loads(text))

    def send(self, frame: dict[str, Any]) -> None:
        self.put(encode(frame))  # through the real encoder: what is sent must be JSON

    async def close(self, flush_timeout: float = 1.0) -> None:
        return None

    async def disconnect(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The frames of one ``type`` received so far, oldest first."""
        return [frame for frame in self.frames if frame.get("type") == kind]

    def kinds(self) -> list[str]:
        return [str(frame.get("type")) for frame in self.frames]


@dataclass
class MediaCalls:
    """The media plane as the room sees it (`signaling.room.MediaRoom`), recording each call
    as ``(method, participant id, ...)`` instead of moving packets."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def publish(self, participant_id: str, sdp: str, sources: dict[str, Source]) -> str:
        self.calls.append(("publish", participant_id, dict(sources)))
        return "v=0\r\n"

    async def answer(self, participant_id: str, sdp: str) -> None:
        self.calls.append(("answer", participant_id))

    async def ice_candidate(
        self, participant_id: str, pc: str, candidate: str | None, mid: str | None
    ) -> None:
        self.calls.append(("ice", participant_id, pc))

    def view(
        self,
        participant_id: str,
        videos: list[tuple[str, Source, int, int]],
        max_kbps: int | None = None,
    ) -> None:
        self.calls.append(("view", participant_id, list(videos)))

    def admit(self, participant_id: str) -> None:
        self.calls.append(("admit", participant_id))

    def sources_changed(self, participant: Participant) -> None:
        self.calls.append(("sources", participant.id, frozenset(participant.sources)))

    def resumed(self, participant_id: str) -> None:
        self.calls.append(("resumed", participant_id))

    def scope_changed(self) -> None:
        self.calls.append(("scope",))

    async def restart(self, participant_id: str, pc: str) -> None:
        self.calls.append(("restart", participant_id, pc))

    async def remove(self, participant_id: str) -> None:
        self.calls.append(("remove", participant_id))

    async def close(self) -> None:
        self.calls.append(("close",))

    def sources_of(self, participant_id: str) -> frozenset[Source] | None:
        """The sources the media plane was last told this participant sends."""
        for call in reversed(self.calls):
            if call[0] == "sources" and call[1] == participant_id:
                return cast(frozenset[Source], call[2])
        return None


@dataclass
class Stage:
    """One room and the people in it, each with an `Inbox`."""

    room: Room
    audit: Audit
    media: MediaCalls
    inboxes: dict[str, Inbox] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _host: Member | None = None

    @property
    def meeting(self) -> LiveMeeting:
        return self.room.meeting

    def enter(self, name: str, visitor: Visitor | None = None) -> Member:
        """Someone who passed the door enters (waits, or is in, as the meeting says)."""
        inbox = Inbox()
        member = self.room.enter(
            new_participant_id(), name, visitor or Visitor(), cast(Outbox, inbox), inbox.disconnect
        )
        self.inboxes[member.id] = inbox
        return member

    def host(self, name: str = "Host") -> Member:
        """The meeting's host (signed in to the host's account): in at once."""
        self._host = self.enter(name, Visitor(user_id=HOST_USER))
        return self._host

    async def guest(self, name: str) -> Member:
        """A guest the host has let in (through the real `admit` request if they waited)."""
        member = self.enter(name)
        if not member.participant.admitted:
            assert self._host is not None, "a host must be in to admit guests"
            await self.send(self._host, "admit", participants=[member.id])
        return member

    async def cohost(self, name: str) -> Member:
        member = await self.guest(name)
        assert self._host is not None
        await self.send(self._host, "cohost", participant=member.id, cohost=True)
        return member

    def inbox(self, member: Member) -> Inbox:
        return self.inboxes[member.id]

    async def send(self, member: Member, kind: str, **fields: Any) -> dict[str, Any]:
        """One request from this member, parsed as a client's frame is and handled as the
        session does once it is in a room; raises the `ProtocolError` its sender would get."""
        frame = json.dumps({"id": next(self._ids), "type": kind, **fields})
        result = await dispatch(self.room, member, parse_client_message(frame))
        return result or {}

    async def settle(self) -> None:
        """Let batched roster and waiting-list frames go out, and background writes (audit,
        kept chat) finish."""
        await asyncio.sleep(roster_flush_interval(len(self.room.members)) + 0.02)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    async def audit_kinds(self) -> list[str]:
        await self.settle()
        return [event.kind for event in await self.audit.events(self.meeting.id)]


async def open_audit(directory: Path) -> tuple[Database, Audit]:
    """The real audit store on a fresh SQLite file in ``directory``."""
    db = Database(f"sqlite+aiosqlite:///{directory / 'mosaic.db'}")
    await db.migrate()
    return db, Audit(db)


@asynccontextmanager
async def staged_room(
    directory: Path, *, audit: Audit | None = None, **settings: Any
) -> AsyncIterator[Stage]:
    """A room of a meeting with these settings (the defaults otherwise: waiting room on,
    screen sharing for hosts). Pass ``audit`` to share one store between several rooms."""
    db = None
    if audit is None:
        db, audit = await open_audit(directory)
    meeting = LiveMeeting(
        id=MEETING_ID, topic="Class", host_user_id=HOST_USER, settings=MeetingSettings(**settings)
    )
    media = MediaCalls()
    services = RoomServices(audit=audit, policy=InstancePolicy())
    room = Room(meeting, services=services, media=media)
    try:
        yield Stage(room, audit, media)
    finally:
        await room.close()
        if db is not None:
            await db.close()
