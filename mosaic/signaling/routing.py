"""Where a signaling connection is served: here, or on its meeting's home worker.

Without a cluster every connection is served here by a `Session`, as always. In cluster mode
the worker a WebSocket lands on reads its first request to learn the meeting: ``join``'s
meeting id, or ``resume``'s token (its signature checked first: a forged token names no
meeting). A stored meeting is placed (`Placement.claim`: its live home, or the least-loaded
live worker, atomically); when that home is this worker, or the meeting is not stored (the
door's answer for an unknown meeting is the same everywhere, and given here), a local
`Session` takes the connection, first request included. Otherwise the connection is relayed
to the home (mosaic.signaling.relay). When Redis cannot be reached, a request that needs
placement is answered with the typed error ``unavailable``, and the client may ask again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mosaic.cluster.link import ClusterUnavailable
from mosaic.cluster.node import Cluster
from mosaic.domain.access import Visitor
from mosaic.domain.ids import normalize_meeting_id
from mosaic.signaling.door import Door
from mosaic.signaling.protocol import Join, ProtocolError, Resume, parse_client_message
from mosaic.signaling.relay import Relays, RemoteSessions, unavailable_frame, watch
from mosaic.signaling.rooms import Rooms
from mosaic.signaling.session import Pace, Session
from mosaic.signaling.socket_cap import CLOSE_JOIN_DEADLINE
from mosaic.signaling.sockets import SignalingSocket, SocketClosed
from mosaic.store.meetings import Meetings

log = logging.getLogger(__name__)


def request_id_of(frame: str | bytes) -> int | None:
    """The id of the request a frame carries, if it has a usable one."""
    try:
        return parse_client_message(frame).id
    except ProtocolError as error:
        return error.request_id


class Replayed:
    """A socket whose first frame was read already (to route it): given again, once."""

    def __init__(self, socket: SignalingSocket, first: str | bytes) -> None:
        self._socket = socket
        self._first: str | bytes | None = first

    @property
    def connected(self) -> bool:
        return self._socket.connected

    async def accept(self) -> None:
        await self._socket.accept()

    async def receive(self) -> str | bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._socket.receive()

    async def send_text(self, text: str) -> None:
        await self._socket.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        await self._socket.close(code, reason)


class ClusterSignaling:
    """This worker's part of signaling in a cluster: routing the connections that land here,
    serving those relayed here, and hearing REST changes to the meetings it is home of."""

    def __init__(
        self,
        cluster: Cluster,
        door: Door,
        meetings: Meetings,
        rooms: Rooms,
        join_deadline_s: float | None,
    ) -> None:
        self.cluster = cluster
        self._door = door
        self._meetings = meetings
        self._rooms = rooms
        self._join_deadline_s = join_deadline_s
        self.relays = Relays(cluster)
        self.remotes = RemoteSessions(cluster, door, join_deadline_s)
        self._watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        bus = self.cluster.bus
        assert bus is not None
        self.relays.install()
        self.remotes.install()
        bus.on("meeting_changed", self._meeting_changed)
        bus.on("meeting_ended", self._meeting_ended)
        self._watcher = asyncio.create_task(watch(self.cluster, self.relays, self.remotes))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        self.relays.move_all()
        await self.remotes.close()

    # -- connections ----------------------------------------------------------------------

    async def serve(self, socket: SignalingSocket, visitor: Visitor, address: str) -> None:
        """Serve one client's signaling connection, here or through its meeting's home."""
        await socket.accept()
        pace = Pace()
        while True:
            try:
                first = await asyncio.wait_for(socket.receive(), self._join_deadline_s)
            except TimeoutError:
                await socket.close(CLOSE_JOIN_DEADLINE, "join a meeting first")
                return
            except SocketClosed:
                return
            meeting_id = await self._meeting_asked(first)
            if meeting_id is None:
                return await self._local(Replayed(socket, first), visitor, address)
            try:
                home = await self.cluster.placement.claim(meeting_id)
            except ClusterUnavailable:
                # Nothing may open the meeting without placement (two homes would split it):
                # the client hears why, and may ask again (paced as a session paces).
                if not pace.allow(asyncio.get_running_loop().time()):
                    await asyncio.sleep(1.0)
                await socket.send_text(unavailable_frame(request_id_of(first)))
                continue
            if home == self.cluster.worker_id:
                return await self._local(Replayed(socket, first), visitor, address)
            return await self.relays.relay(socket, home, first, visitor, address, request_id_of)

    async def _local(self, socket: SignalingSocket, visitor: Visitor, address: str) -> None:
        await Session(
            socket, self._door, visitor, address, join_deadline_s=self._join_deadline_s
        ).run()

    async def _meeting_asked(self, frame: str | bytes) -> str | None:
        """The stored meeting a first request asks for; None when it asks for none (an
        unknown meeting, a bad token, not a join or resume at all)."""
        try:
            request = parse_client_message(frame)
        except ProtocolError:
            return None
        if isinstance(request, Join):
            meeting_id = normalize_meeting_id(request.meeting)
        elif isinstance(request, Resume):
            claim = self._rooms.resume_tokens.read(request.token)
            meeting_id = claim.meeting_id if claim is not None else None
        else:
            return None
        if meeting_id is None or await self._meetings.get(meeting_id) is None:
            return None
        return meeting_id

    # -- changes made through REST on any worker ------------------------------------------

    async def tell_home(self, meeting_id: str, kind: str) -> None:
        """Tell the meeting's home (when it is another worker) that the store changed
        (``meeting_changed``) or that the meeting is gone (``meeting_ended``). The store
        holds the change either way: without Redis, the next join brings the room up to it."""
        try:
            home = await self.cluster.placement.home_of(meeting_id)
            if home is not None and home != self.cluster.worker_id:
                assert self.cluster.bus is not None
                await self.cluster.bus.send(home, {"kind": kind, "meeting": meeting_id})
        except ClusterUnavailable:
            log.warning("could not tell meeting %s's home of a change (no Redis)", meeting_id)

    async def live_elsewhere(self, meeting_id: str) -> bool:
        """Whether the meeting is live on another worker now (unknown without Redis: then
        it is taken as live, the careful answer for what would touch its files)."""
        try:
            home = await self.cluster.placement.home_of(meeting_id)
        except ClusterUnavailable:
            return True
        return home is not None and home != self.cluster.worker_id

    async def _meeting_changed(self, message: dict[str, Any]) -> None:
        meeting_id = str(message.get("meeting"))
        room = self._rooms.get(meeting_id)
        if room is None:
            return
        record = await self._meetings.get(meeting_id)
        if record is not None:
            room.apply_stored(record)

    async def _meeting_ended(self, message: dict[str, Any]) -> None:
        await self._rooms.end(
            str(message.get("meeting")), reason=str(message.get("reason") or "meeting deleted")
        )
