"""The live rooms of this node, opened on the first join and closed when the last one leaves."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mosaic.domain.meeting import LiveMeeting
from mosaic.signaling.live_state import Journals, LiveState
from mosaic.signaling.resume import ResumeTokens
from mosaic.signaling.room import MediaRoom, Room, RoomServices
from mosaic.store.meetings import MeetingRecord
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)


def _background_failed(error: BaseException) -> None:
    log.error("closing a room or recording an event failed", exc_info=error)


# Media figures that say what is now (streams, relay peers), not counters: never summed
# into the totals of closed rooms.
GAUGES = (
    "published_streams",
    "forwarded_streams",
    "relay_peers",
    "relay_relayed_in",
    "relay_relayed_out",
)

# Makes a meeting's media plane, given the meeting and a way to send a participant a frame.
MediaFactory = Callable[[LiveMeeting, Callable[[str, dict[str, Any]], None]], MediaRoom]


class Rooms:
    def __init__(self, services: RoomServices, media_factory: MediaFactory | None = None) -> None:
        self._services = services
        self._media_factory = media_factory
        self._rooms: dict[str, Room] = {}
        self._closing = TaskSet(on_error=_background_failed)
        # Media counters of rooms that closed, so that metrics' totals never go back.
        self.closed_media_totals: dict[str, int] = {}

    def keep_live_state(self, journals: Journals) -> None:
        """Cluster mode: rooms opened from now on journal their live state there
        (`mosaic.signaling.failover`)."""
        self._services = replace(self._services, journals=journals)

    def make_media_with(self, factory: MediaFactory) -> None:
        """Cluster mode: rooms opened from now on get this media plane (a meeting's media
        may span workers: `mosaic.signaling.span`)."""
        self._media_factory = factory

    def _keep_totals(self, room: Room) -> None:
        stats = getattr(room.media, "stats", None)
        if stats is None:
            return
        for name, value in stats().items():
            if name not in GAUGES:
                self.closed_media_totals[name] = self.closed_media_totals.get(name, 0) + value

    def get(self, meeting_id: str) -> Room | None:
        return self._rooms.get(meeting_id)

    async def journaled(self, meeting_id: str) -> LiveState | None:
        """The live state a previous home of this meeting journaled, when this worker has no
        live room for it (read before `open`, which must not wait); None on a single process."""
        live = self._rooms.get(meeting_id)
        if live is not None and not live.meeting.ended:
            return None
        return await self._services.journals.load(meeting_id)

    def open(self, record: MeetingRecord, journaled: LiveState | None = None) -> Room:
        """The meeting's live room, made from its stored state (and the live state another
        worker journaled, see `journaled`), or brought up to it."""
        room = self._rooms.get(record.id)
        if room is None or room.meeting.ended:
            meeting = LiveMeeting(
                id=record.id,
                topic=record.topic,
                host_user_id=record.host_user_id,
                settings=record.settings,
                locked=record.locked,
                ended=record.ended,
                bans=record.bans,
                version=record.version,
                flood_windows=self._services.flood_windows,
            )
            room = Room(meeting, services=self._services, on_empty=self._empty)
            if self._media_factory is not None:
                room.media = self._media_factory(meeting, room.to_member)
                room.media.on_condition = room.condition_changed
            if journaled is not None:
                room.restore(journaled)
            self._rooms[record.id] = room
        else:
            room.apply_stored(record)
        return room

    def audit(self, meeting_id: str, kind: str, **fields: str | None) -> None:
        """Record a security event of a meeting that may have no live room (a refused join)."""

        async def record() -> None:
            try:
                await self._services.audit.record(meeting_id, kind, **fields)
            except Exception:
                log.exception("could not record a %s event", kind)

        self._closing.spawn(record())

    def _empty(self, room: Room) -> None:
        if self._rooms.get(room.id) is room:
            del self._rooms[room.id]
            room.journal.forget()  # nobody left to come back to it
            self._keep_totals(room)
            self._closing.spawn(room.close())

    async def end(self, meeting_id: str, reason: str) -> None:
        """Close a meeting's live room, if any (the meeting was deleted or ended)."""
        room = self._rooms.pop(meeting_id, None)
        if room is not None:
            self._keep_totals(room)
            room.meeting.ended = True  # its live state is forgotten as it closes
            await room.close(reason=reason)

    @property
    def resume_tokens(self) -> ResumeTokens:
        return self._services.resume_tokens

    def __len__(self) -> int:
        return len(self._rooms)

    def all(self) -> list[Room]:
        return list(self._rooms.values())

    async def hand_over(self, meeting_id: str, code: int, reason: str) -> None:
        """Close this worker's copy of a meeting that lives on elsewhere now: its journal is
        kept (the other home holds it), its people resume there."""
        room = self._rooms.pop(meeting_id, None)
        if room is not None:
            self._keep_totals(room)
            await room.close(code=code, reason=reason)

    async def close_all(self, reason: str = "server shutting down", code: int = 1001) -> None:
        """Close every room (this process stops); their journals, if any, stay for the
        meetings' next homes."""
        rooms, self._rooms = list(self._rooms.values()), {}
        for room in rooms:
            await room.close(code=code, reason=reason)
        await self._closing.wait()
