"""One WebSocket, one participant: read frames, validate them, act, answer.

Nothing a client sends can hurt the room or anyone else: frames are validated against the
protocol's schemas, requests are paced, errors go back to their sender only, and an unexpected
failure in a handler becomes an ``internal`` error for that request, never a crashed room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from mosaic import logs
from mosaic.domain.access import Visitor
from mosaic.domain.ids import new_participant_id
from mosaic.signaling.commands import dispatch
from mosaic.signaling.door import Door
from mosaic.signaling.outbox import Outbox
from mosaic.signaling.protocol import (
    ErrorCode,
    Join,
    Leave,
    ProtocolError,
    Resume,
    parse_client_message,
)
from mosaic.signaling.room import CLOSE_NORMAL, CLOSE_POLICY, Member, Room
from mosaic.signaling.socket_cap import CLOSE_JOIN_DEADLINE
from mosaic.signaling.sockets import SignalingSocket, SocketClosed

log = logging.getLogger(__name__)

# A person clicks a few times a second; view updates and ICE candidates come in bursts.
RATE_PER_SECOND = 30.0
RATE_BURST = 120.0
# Far beyond that, the client is broken or hostile: hang up.
ABUSE_FRAMES = 600
CLEAN_CLOSE_CODES = frozenset({1000, 1001})


@dataclass
class Pace:
    """Token bucket for one connection's requests."""

    tokens: float = RATE_BURST
    updated: float = 0.0
    refused: int = 0

    def allow(self, now: float) -> bool:
        self.tokens = min(RATE_BURST, self.tokens + (now - self.updated) * RATE_PER_SECOND)
        self.updated = now
        if self.tokens < 1.0:
            self.refused += 1
            return False
        self.tokens -= 1.0
        return True


class Session:
    """Serves one participant through a `SignalingSocket`: the client's own WebSocket, or a
    bus channel from the worker its WebSocket landed on (mosaic.signaling.relay)."""

    def __init__(
        self,
        socket: SignalingSocket,
        door: Door,
        visitor: Visitor,
        address: str,
        *,
        join_deadline_s: float | None = None,
    ) -> None:
        self.socket = socket
        self.join_deadline_s = join_deadline_s
        self._idle = asyncio.Event()  # cleared while a request (a join, say) is answered
        self._idle.set()
        self.door = door
        self.visitor = visitor
        self.address = address
        self.outbox = Outbox(socket.send_text)
        self.room: Room | None = None
        self.member: Member | None = None
        self.pace = Pace(updated=time.monotonic())

    async def run(self) -> None:
        await self.socket.accept()
        self.outbox.start()
        deadline = None
        if self.join_deadline_s is not None:
            deadline = asyncio.create_task(self._close_unless_joined(self.join_deadline_s))
        ending = "lost"
        try:
            ending = await self._read_loop()
        finally:
            if deadline is not None:
                deadline.cancel()
            member, room = self.member, self.room
            if room is not None and member is not None and member.connection is self:
                if ending == "lost":
                    room.connection_lost(member)
                else:
                    await room.depart(member)
            await self.outbox.close(flush_timeout=0.5)
            await self.disconnect(CLOSE_NORMAL, "bye")

    async def _close_unless_joined(self, deadline_s: float) -> None:
        """Close the socket if it has not joined (or resumed) a meeting within the deadline.
        Sockets that never join cost a file each: a thousand idle ones used to exhaust the
        server's file limit. A join still being answered (a passcode check) is waited for."""
        await asyncio.sleep(deadline_s)
        await self._idle.wait()
        if self.member is None:
            await self.disconnect(CLOSE_JOIN_DEADLINE, "join a meeting first")

    async def _read_loop(self) -> str:
        """Serve frames until the end; say how it ended: "left" (a leave request or a clean
        close by the client), or "lost" (the connection dropped, or we hung up)."""
        while not self.outbox.overflowed.is_set():
            try:
                frame = await self.socket.receive()
            except SocketClosed as closed:
                # 1000/1001: the page closed the socket on purpose (or went away); anything
                # else (1006: no closing handshake) is a network failure to recover from.
                return "left" if closed.code in CLEAN_CLOSE_CODES else "lost"
            if not await self._handle(frame):
                return "left"
        return "lost"

    async def _handle(self, frame: str | bytes) -> bool:
        """Answer one frame; False once the participant has left (or was hung up on)."""
        request_id = None
        paced = self.pace.allow(time.monotonic())
        if not paced and self.pace.refused > ABUSE_FRAMES:
            await self.disconnect(CLOSE_POLICY, "too many messages")
            return False
        try:
            request = parse_client_message(frame)
            request_id = request.id
            if not paced:
                raise ProtocolError(ErrorCode.RATE_LIMITED, "slow down", request_id)
            if isinstance(request, Leave):
                self._reply(request_id, {})
                return False
            self._idle.clear()
            try:
                result = await self._perform(request)
            finally:
                self._idle.set()
            self._reply(request_id, result or {})
        except ProtocolError as error:
            if error.request_id is None:
                error.request_id = request_id
            self.outbox.send(error.frame())
        except Exception:
            # Never the frame's content in the log: it may hold a passcode or chat text.
            log.exception("request failed in meeting %s", self.room.id if self.room else "-")
            self.outbox.send(
                ProtocolError(ErrorCode.INTERNAL, "the server failed", request_id).frame()
            )
        return True

    async def _perform(self, request: Any) -> dict[str, Any] | None:
        if self.member is None:
            if isinstance(request, Resume):
                return await self._resume(request)
            if not isinstance(request, Join):
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "join a meeting first", request.id)
            return await self._join(request)
        if isinstance(request, Join | Resume):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "already in a meeting", request.id)
        assert self.room is not None
        return await dispatch(self.room, self.member, request)

    async def _join(self, request: Join) -> dict[str, Any]:
        # The device is the server-signed cookie's (set by the endpoint), never the
        # request's ``device``, which the client chooses.
        visitor = self.visitor
        room = await self.door.open(request, visitor, self.address)
        self.room = room
        self.member = room.enter(
            new_participant_id(), request.name, visitor, self.outbox, self.disconnect
        )
        self.member.connection = self
        logs.participant_id.set(self.member.id)
        logs.meeting_id.set(room.id)
        log.info("joined (%s)", self.member.participant.state.value)
        return room.entry_result(self.member)

    async def _resume(self, request: Resume) -> dict[str, Any]:
        """Back after a dropped connection: same participant, same place, fresh state. After
        a restart of the server (or a long drop), the signed token gives the place back:
        the reply then says ``restored``, and the client starts its media afresh."""
        room, claim, returning = await self.door.readmit(request.token, self.visitor, request.id)
        self.room = room
        logs.meeting_id.set(room.id)
        logs.participant_id.set(claim.participant_id)
        member = room.members.get(claim.participant_id)
        if member is not None:
            self.member = member
            log.info("resumed")
            return await room.resume(member, self, self.outbox, self.disconnect)
        self.member = room.rejoin(claim, returning, self.outbox, self.disconnect)
        self.member.connection = self
        log.info("rejoined (%s)", self.member.participant.state.value)
        return {**room.entry_result(self.member), "restored": True}

    def _reply(self, request_id: int, result: dict[str, Any]) -> None:
        self.outbox.send({"type": "reply", "id": request_id, "result": result})

    async def disconnect(self, code: int, reason: str) -> None:
        await self.socket.close(code, reason)
