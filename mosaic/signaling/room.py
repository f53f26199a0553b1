"""A live meeting on this node: its rules (domain), its people's connections, its media.

The room turns the domain's decisions into frames for the right people. Roster changes are
batched, so a join storm of N people costs about N frames per flush instead of N² frames.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mosaic.domain.ids import new_token
from mosaic.domain.meeting import LiveMeeting, NameTaken, Visitor
from mosaic.domain.roster import Participant, Source, State
from mosaic.domain.settings import InstancePolicy, MeetingSettings
from mosaic.signaling.outbox import Outbox, encode
from mosaic.signaling.protocol import name_taken
from mosaic.store.audit import Audit

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008


class MediaRoom(Protocol):
    """What the room needs from the media plane (implemented by `mosaic.media.router`)."""

    async def publish(self, participant_id: str, sdp: str, sources: dict[str, Source]) -> str: ...
    async def answer(self, participant_id: str, sdp: str) -> None: ...
    async def ice_candidate(
        self, participant_id: str, pc: str, candidate: str | None, mid: str | None
    ) -> None: ...
    def view(self, participant_id: str, videos: list[tuple[str, Source, int, int]]) -> None: ...
    def admit(self, participant_id: str) -> None: ...
    def sources_changed(self, participant: Participant) -> None: ...
    def resumed(self, participant_id: str) -> None: ...
    async def restart(self, participant_id: str, pc: str) -> None: ...
    async def remove(self, participant_id: str) -> None: ...
    async def close(self) -> None: ...


@dataclass(frozen=True)
class RoomServices:
    """What a room uses beyond its own state: the audit trail, the instance's policy, and
    the ICE servers (with credentials) to hand each participant."""

    audit: Audit
    policy: InstancePolicy
    ice_servers: Callable[[str], list[dict[str, Any]]] | None = None


# A participant whose connection dropped keeps its place this long, to come back with its
# resume token (no new trip through the waiting room, no duplicate tile).
RESUME_GRACE_S = 15.0
CLOSE_REPLACED = 4000


@dataclass(eq=False)
class Member:
    """One participant's place in the room, and the connection it is reached through."""

    participant: Participant
    outbox: Outbox
    disconnect: Callable[[int, str], Awaitable[None]]
    resume_token: str = field(default_factory=new_token)
    connection: object = None  # the session now serving this member
    expiry: asyncio.TimerHandle | None = None  # set while disconnected, awaiting a resume
    joined_monotonic: float = field(default_factory=time.monotonic)

    @property
    def id(self) -> str:
        return self.participant.id


def roster_flush_interval(size: int) -> float:
    """Small rooms feel live (50 ms); a thousand people get one roster frame per second."""
    return min(1.0, 0.05 + size / 1000.0)


class Room:
    def __init__(
        self,
        meeting: LiveMeeting,
        *,
        services: RoomServices,
        media: MediaRoom | None = None,
        on_empty: Callable[[Room], None] | None = None,
    ) -> None:
        self.meeting = meeting
        self.media = media
        self.members: dict[str, Member] = {}
        self._services = services
        self._on_empty = on_empty
        self._roster_changes: dict[str, str] = {}
        self._waiting_changed = False
        self._flush_handle: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.frames_sent = 0

    @property
    def id(self) -> str:
        return self.meeting.id

    # -- entering ------------------------------------------------------------------------------

    def enter(
        self,
        participant_id: str,
        name: str,
        visitor: Visitor,
        outbox: Outbox,
        disconnect: Callable[[int, str], Awaitable[None]],
    ) -> Member:
        """Place a visitor who passed the door (see `Room.refusal_for`) in the room."""
        try:
            participant, flood = self.meeting.enter(participant_id, name, visitor, time.time())
        except NameTaken:
            raise name_taken() from None
        member = Member(participant, outbox, disconnect)
        self.members[participant.id] = member
        self.audit("join", subject=participant.name, detail=participant.state.value)
        if flood:
            self.audit("join_flood", detail="waiting room switched on")
            self.to_hosts({"type": "alert", "code": "join_flood"})
            self.broadcast_meeting_state()
        if participant.state is State.ADMITTED:
            self._admitted(member)
        else:
            self._waiting_changed = True
            self._schedule_flush()
        return member

    def _admitted(self, member: Member) -> None:
        self._roster_changes[member.id] = "joined"
        self._schedule_flush()
        if self.media is not None:
            self.media.admit(member.id)

    def entry_result(self, member: Member) -> dict[str, Any]:
        """The reply to `join` (and the body of the `admitted` event)."""
        participant = member.participant
        if participant.state is State.WAITING:
            return {
                "state": "waiting",
                "self": {"id": participant.id, "name": participant.name},
                "resume_token": member.resume_token,
            }
        result: dict[str, Any] = {
            "state": "joined",
            "self": participant.public(),
            "meeting": self.meeting_state(),
            "participants": [p.public() for p in self.meeting.roster.admitted()],
            "ice_servers": self.ice_servers(member.id),
        }
        if participant.is_host_or_cohost:
            result["waiting"] = self.waiting_list()
        result["resume_token"] = member.resume_token
        return result

    def ice_servers(self, participant_id: str) -> list[dict[str, Any]]:
        """STUN/TURN servers for this participant's browser, with fresh credentials."""
        return self._services.ice_servers(participant_id) if self._services.ice_servers else []

    # -- connections that drop and come back -------------------------------------------------

    def member_by_token(self, token: str) -> Member | None:
        for member in self.members.values():
            if secrets.compare_digest(member.resume_token, token):
                return member
        return None

    def connection_lost(self, member: Member) -> None:
        """The connection dropped without a goodbye: keep the place for a while."""
        if self.members.get(member.id) is not member or member.expiry is not None:
            return
        loop = asyncio.get_running_loop()
        member.expiry = loop.call_later(
            RESUME_GRACE_S, lambda: self.spawn(self.depart(member, kind="lost"))
        )
        # Operators follow who came and went by ids: never a name (personal data).
        log.info(
            "participant %s lost its connection to meeting %s (place kept %.0f s)",
            member.id,
            self.id,
            RESUME_GRACE_S,
        )

    async def resume(
        self,
        member: Member,
        connection: object,
        outbox: Outbox,
        disconnect: Callable[[int, str], Awaitable[None]],
    ) -> dict[str, Any]:
        """Put a member back on a new connection; the old one (if still open) is closed."""
        if member.expiry is not None:
            member.expiry.cancel()
            member.expiry = None
        old_outbox, old_disconnect = member.outbox, member.disconnect
        member.outbox, member.disconnect, member.connection = outbox, disconnect, connection
        await old_outbox.close(flush_timeout=0)
        await old_disconnect(CLOSE_REPLACED, "replaced by a newer connection")
        self.audit("resume", subject=member.participant.name)
        if self.media is not None and member.participant.admitted:
            self.media.resumed(member.id)
        return self.entry_result(member)

    def admit_member(self, member: Member) -> None:
        """Tell a participant who waited that they are in, with what a joiner gets."""
        self.audit("admit", subject=member.participant.name)
        log.info("participant %s admitted to meeting %s", member.id, self.id)
        self._admitted(member)
        member.outbox.send({"type": "admitted", **self.entry_result(member)})
        self._waiting_changed = True

    # -- leaving -------------------------------------------------------------------------------

    async def depart(self, member: Member, kind: str = "leave") -> None:
        """Someone is gone (hung up, lost, denied or removed): forget them everywhere."""
        if self.members.get(member.id) is not member:
            return
        if member.expiry is not None:
            member.expiry.cancel()
            member.expiry = None
        del self.members[member.id]
        log.info("participant %s gone from meeting %s (%s)", member.id, self.id, kind)
        was = member.participant.state
        self.meeting.leave(member.id)
        if was in (State.ADMITTED, State.REMOVED):
            self._roster_changes[member.id] = "left"
            self._schedule_flush()
        elif was in (State.WAITING, State.DENIED):
            self._waiting_changed = True
            self._schedule_flush()
        if kind in ("leave", "lost"):
            self.audit(kind, subject=member.participant.name)
        if self.media is not None:
            await self.media.remove(member.id)
        if not self.members and self._on_empty is not None:
            self._on_empty(self)

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "meeting ended") -> None:
        """End the room: every connection is closed, media is torn down."""
        for member in list(self.members.values()):
            if member.expiry is not None:
                member.expiry.cancel()
            await member.outbox.close(flush_timeout=0.5)
            await member.disconnect(code, reason)
        self.members.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self.media is not None:
            await self.media.close()
        # Audit events and recorded chat are still being written: let them finish.
        if self._background:
            await asyncio.wait(list(self._background), timeout=5.0)
        for task in list(self._background):
            task.cancel()

    # -- sending -------------------------------------------------------------------------------

    def to_admitted(self, frame: dict[str, Any], exclude: str | None = None) -> None:
        text = encode(frame)
        for member in self.members.values():
            if member.participant.state is State.ADMITTED and member.id != exclude:
                member.outbox.put(text)
                self.frames_sent += 1

    def to_hosts(self, frame: dict[str, Any]) -> None:
        text = encode(frame)
        for member in self.members.values():
            if member.participant.admitted and member.participant.is_host_or_cohost:
                member.outbox.put(text)
                self.frames_sent += 1

    def to_member(self, participant_id: str, frame: dict[str, Any]) -> None:
        member = self.members.get(participant_id)
        if member is not None:
            member.outbox.send(frame)
            self.frames_sent += 1

    def participant_changed(self, participant: Participant) -> None:
        """Someone's public state (name, role, sources, hand) changed: tell everyone, batched."""
        if self._roster_changes.get(participant.id) != "joined":
            self._roster_changes[participant.id] = "updated"
        self._schedule_flush()

    def meeting_state(self) -> dict[str, Any]:
        meeting = self.meeting
        return {
            "id": meeting.id,
            "topic": meeting.topic,
            "settings": meeting.settings.model_dump(mode="json"),
            "locked": meeting.locked,
            "spotlight": list(meeting.spotlight),
        }

    def broadcast_meeting_state(self) -> None:
        self.to_admitted({"type": "meeting", **self.meeting_state()})

    def waiting_list(self) -> list[dict[str, str]]:
        return [{"id": p.id, "name": p.name} for p in self.meeting.roster.waiting()]

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            delay = roster_flush_interval(len(self.members))
            self._flush_handle = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        changes, self._roster_changes = self._roster_changes, {}
        if changes:
            roster = self.meeting.roster
            joined, updated, left = [], [], []
            for pid, change in changes.items():
                participant = roster.get(pid)
                if change == "left" or participant is None or not participant.admitted:
                    left.append(pid)
                elif change == "joined":
                    joined.append(participant.public())
                else:
                    updated.append(participant.public())
            self.to_admitted({"type": "roster", "joined": joined, "updated": updated, "left": left})
        if self._waiting_changed:
            self._waiting_changed = False
            self.to_hosts({"type": "waiting", "participants": self.waiting_list()})

    # -- bookkeeping ---------------------------------------------------------------------------

    def audit(
        self,
        kind: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Record a security event without making the room wait for the database."""
        record = self._services.audit.record
        self.spawn(record(self.id, kind, actor=actor, subject=subject, detail=detail))

    async def audit_events(self) -> list[dict[str, str | None]]:
        # Events of this very moment may still be on their way to the database.
        if self._background:
            await asyncio.wait(list(self._background), timeout=5.0)
        return [event.public() for event in await self._services.audit.events(self.id)]

    async def report(self, reporter: str, reported: str, reason: str) -> None:
        await self._services.audit.report(self.id, reporter, reported, reason)

    async def keep_chat(self, sender: str, recipient: str | None, text: str) -> None:
        await self._services.audit.keep_chat(self.id, sender, recipient, text)

    def policy_violations(self, settings: MeetingSettings) -> list[str]:
        return self._services.policy.violations(settings)

    def spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task of a room failed", exc_info=task.exception())
