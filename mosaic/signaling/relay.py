"""Signaling across workers: a client's WebSocket on one worker, its meeting on another.

In cluster mode a participant's WebSocket lands on any worker (the landing worker, L); its
meeting lives on one home worker (H, mosaic.cluster.placement). When they differ, L relays:

    L -> H  {"kind": "open",  "conn", "visitor", "address", "frame"}   the first request
    L -> H  {"kind": "frame", "conn", "frame"}                         each client frame
    L -> H  {"kind": "close", "conn", "code"}                          the client went
    H -> L  {"kind": "out",   "conn", "frame"}                         each frame for the client
    H -> L  {"kind": "hangup", "conn", "code", "reason"}               H hung up

H runs an ordinary `Session` whose socket is a `BusSocket`: the meeting's rules, its room and
its media are all on H, exactly as for a local client; L only carries frames (one publish per
frame each way, nothing else per frame). The visitor L read at the handshake (its signed-in
account, its signed device cookie's pseudonym, its address) travels with ``open``: H
believes it, as it believes anything on the bus (Redis is inside the trust boundary:
docs/operations.md). Binary frames travel base64-encoded (``"binary": true``).

Each side watches the other (every `WATCH_S`; `Deaths`: its bus subscription gone, or its
heartbeat long missing): L closes the clients of a dead home with 1012 so that they resume at
once (the resume is placed again, on a live worker), and H treats the clients of a dead
landing worker as dropped (their places kept).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Callable
from typing import Any

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable
from mosaic.cluster.node import Cluster
from mosaic.domain.access import Visitor
from mosaic.signaling.door import Door
from mosaic.signaling.outbox import encode
from mosaic.signaling.protocol import ErrorCode, ProtocolError
from mosaic.signaling.session import Session
from mosaic.signaling.sockets import CLOSE_ABNORMAL, SignalingSocket, SocketClosed
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

# How often each side asks whether the worker at the other end is alive.
WATCH_S = 0.25
# "Service restart" (RFC 6455 7.4.1): the client reconnects and resumes at once.
CLOSE_MOVING = 1012
# Client frames waiting for the home's session (far beyond a paced client's).
MAX_PENDING_FRAMES = 1000
# Frames waiting for a slow client on the landing worker.
MAX_OUTGOING_FRAMES = 2000
UNAVAILABLE = "the service is unavailable; try again in a moment"


def _failed(error: BaseException) -> None:
    log.error("a relayed session failed", exc_info=error)


def visitor_to_json(visitor: Visitor) -> dict[str, Any]:
    return dataclasses.asdict(visitor)


def visitor_from_json(data: dict[str, Any]) -> Visitor:
    names = {field.name for field in dataclasses.fields(Visitor)}
    return Visitor(**{name: value for name, value in data.items() if name in names})


def frame_fields(frame: str | bytes) -> dict[str, Any]:
    if isinstance(frame, bytes):
        return {"frame": base64.b64encode(frame).decode(), "binary": True}
    return {"frame": frame}


def frame_of(message: dict[str, Any]) -> str | bytes:
    frame = message.get("frame", "")
    if message.get("binary"):
        return base64.b64decode(frame)
    return str(frame)


def unavailable_frame(request_id: int | None) -> str:
    return encode(ProtocolError(ErrorCode.UNAVAILABLE, UNAVAILABLE, request_id).frame())


# -- the home's side ------------------------------------------------------------------------


class BusSocket:
    """A relayed client as its home's `Session` sees it: frames from the bus, frames to it."""

    def __init__(self, cluster: Cluster, landing: str, conn: str) -> None:
        self._cluster = cluster
        self.landing = landing
        self.conn = conn
        self._incoming: asyncio.Queue[str | bytes | SocketClosed] = asyncio.Queue()
        self._open = True
        self._pending = 0
        # Frames lost while Redis was away: the client's view is stale, so once Redis is
        # back it is sent to resume (a fresh state), see `_hang_up_when_back`.
        self._stale: asyncio.Task[None] | None = None
        # The meeting its session is in, if any (set by `RemoteSessions`).
        self.meeting_of: Callable[[], str | None] = lambda: None

    @property
    def connected(self) -> bool:
        return self._open

    async def accept(self) -> None:
        """The landing worker accepted the client's WebSocket already."""

    def feed(self, frame: str | bytes) -> None:
        if not self._open:
            return
        if self._pending >= MAX_PENDING_FRAMES:
            self.gone(CLOSE_ABNORMAL)
            return
        self._pending += 1
        self._incoming.put_nowait(frame)

    def gone(self, code: int) -> None:
        """The client (or its landing worker) went away."""
        self._incoming.put_nowait(SocketClosed(code))

    async def receive(self) -> str | bytes:
        item = await self._incoming.get()
        if isinstance(item, SocketClosed):
            self._open = False
            raise item
        self._pending -= 1
        return item

    async def send_text(self, text: str) -> None:
        if not self._open:
            raise ConnectionError("the relayed client is gone")
        try:
            heard = await self._cluster.bus.send(
                self.landing, {"kind": "out", "conn": self.conn, "frame": text}
            )
        except ClusterUnavailable:
            heard = 0
        if not heard and self._stale is None:
            # Lost (Redis away, or back but the landing worker not yet subscribed again):
            # the client's view is stale from here on.
            self._stale = asyncio.create_task(self._hang_up_when_back())

    async def _hang_up_when_back(self) -> None:
        """Until the landing worker hears it (its subscription, too, comes back after Redis),
        and not before the meeting has a home again (Redis may have come back empty: the
        client's resume must find this home, not claim a second one)."""
        while self._open:
            await asyncio.sleep(0.5)
            with contextlib.suppress(ClusterUnavailable):
                meeting = self.meeting_of()
                if meeting is not None and await self._cluster.placement.home_of(meeting) is None:
                    continue
                if await self._send_hangup(CLOSE_MOVING, "moving"):
                    self._open = False
                    self.gone(CLOSE_ABNORMAL)
                    return

    async def close(self, code: int, reason: str) -> None:
        if not self._open:
            return
        self._open = False
        self.gone(code)
        with contextlib.suppress(ClusterUnavailable):
            await self._send_hangup(code, reason)

    async def _send_hangup(self, code: int, reason: str) -> int:
        return await self._cluster.bus.send(
            self.landing, {"kind": "hangup", "conn": self.conn, "code": code, "reason": reason}
        )


class RemoteSessions:
    """The home's side: a `Session` for each client relayed to this worker."""

    def __init__(self, cluster: Cluster, door: Door, join_deadline_s: float | None) -> None:
        self._cluster = cluster
        self._door = door
        self._join_deadline_s = join_deadline_s
        self._sockets: dict[tuple[str, str], BusSocket] = {}
        self._tasks = TaskSet(on_error=_failed)

    def install(self) -> None:
        bus = self._cluster.bus
        bus.on("open", self._open)
        bus.on("frame", self._frame)
        bus.on("close", self._close)

    def __len__(self) -> int:
        return len(self._sockets)

    def _open(self, message: dict[str, Any]) -> None:
        landing, conn = str(message["from"]), str(message["conn"])
        socket = BusSocket(self._cluster, landing, conn)
        self._sockets[(landing, conn)] = socket
        socket.feed(frame_of(message))
        session = Session(
            socket,
            self._door,
            visitor_from_json(message.get("visitor") or {}),
            str(message.get("address") or "?"),
            join_deadline_s=self._join_deadline_s,
        )
        socket.meeting_of = lambda: session.room.id if session.room is not None else None
        self._tasks.spawn(self._serve(session, socket))

    async def _serve(self, session: Session, socket: BusSocket) -> None:
        try:
            await session.run()
        finally:
            self._sockets.pop((socket.landing, socket.conn), None)

    def _frame(self, message: dict[str, Any]) -> None:
        socket = self._sockets.get((str(message["from"]), str(message["conn"])))
        if socket is not None:
            socket.feed(frame_of(message))

    def _close(self, message: dict[str, Any]) -> None:
        socket = self._sockets.get((str(message["from"]), str(message["conn"])))
        if socket is not None:
            socket.gone(int(message.get("code") or CLOSE_ABNORMAL))

    def landings(self) -> set[str]:
        return {landing for landing, _ in self._sockets}

    def landing_died(self, landing: str) -> None:
        """Its clients' connections dropped: their places are kept for them to resume."""
        for (worker, _), socket in list(self._sockets.items()):
            if worker == landing:
                socket.gone(CLOSE_ABNORMAL)

    async def close(self) -> None:
        for socket in list(self._sockets.values()):
            socket.gone(CLOSE_ABNORMAL)
        await self._tasks.wait(timeout=1.0)
        self._tasks.cancel()


# -- the landing worker's side --------------------------------------------------------------


class _Leg:
    """One client of this worker whose session runs on another (its home)."""

    def __init__(self, socket: SignalingSocket, home: str) -> None:
        self.socket = socket
        self.home = home
        self.hung_up = False
        self._outgoing: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue(MAX_OUTGOING_FRAMES)
        self.writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def out(self, frame: str) -> None:
        if self.hung_up:
            return
        try:
            self._outgoing.put_nowait(frame)
        except asyncio.QueueFull:  # a client this far behind is dropped, as on its home
            self.hang_up(CLOSE_ABNORMAL, "too slow")

    def hang_up(self, code: int, reason: str) -> None:
        if self.hung_up:
            return
        self.hung_up = True
        with contextlib.suppress(asyncio.QueueFull):
            self._outgoing.put_nowait((code, reason))
        if self._outgoing.full():
            # No room for the close itself: close now, dropping what was queued.
            self._closing = asyncio.create_task(self.socket.close(code, reason))

    async def write(self) -> None:
        while True:
            item = await self._outgoing.get()
            if isinstance(item, tuple):
                await self.socket.close(*item)
                return
            try:
                await self.socket.send_text(item)
            except Exception:  # the client is gone; the reading side notices
                return


class Relays:
    """The landing worker's side: clients whose meetings live on other workers."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._legs: dict[str, _Leg] = {}

    def install(self) -> None:
        bus = self._cluster.bus
        bus.on("out", self._out)
        bus.on("hangup", self._hangup)

    def __len__(self) -> int:
        return len(self._legs)

    def _out(self, message: dict[str, Any]) -> None:
        leg = self._legs.get(str(message["conn"]))
        if leg is not None and leg.home == message.get("from"):
            leg.out(str(message.get("frame", "")))

    def _hangup(self, message: dict[str, Any]) -> None:
        leg = self._legs.get(str(message["conn"]))
        if leg is not None and leg.home == message.get("from"):
            leg.hang_up(int(message.get("code") or 1000), str(message.get("reason") or ""))

    def homes(self) -> set[str]:
        return {leg.home for leg in self._legs.values()}

    def move_all(self) -> None:
        """This worker stops: its relayed clients resume elsewhere at once."""
        for leg in list(self._legs.values()):
            leg.hang_up(CLOSE_MOVING, "moving")

    def home_died(self, home: str) -> None:
        for leg in list(self._legs.values()):
            if leg.home == home:
                leg.hang_up(CLOSE_MOVING, "moving")

    async def relay(
        self,
        socket: SignalingSocket,
        home: str,
        first: str | bytes,
        visitor: Visitor,
        address: str,
        parse_id: Callable[[str | bytes], int | None],
    ) -> None:
        """Carry one client's frames to its home and back until either side hangs up."""
        conn = secrets.token_hex(12)
        leg = _Leg(socket, home)
        self._legs[conn] = leg
        leg.writer = asyncio.create_task(leg.write())
        bus = self._cluster.bus
        try:
            opened = await bus.send(
                home,
                {
                    "kind": "open",
                    "conn": conn,
                    "visitor": visitor_to_json(visitor),
                    "address": address,
                    **frame_fields(first),
                },
            )
            if not opened:  # the home is not subscribed this moment (dying, or Redis back)
                raise ClusterUnavailable(f"{home} did not hear")
            while not leg.hung_up:
                try:
                    frame = await socket.receive()
                except SocketClosed as closed:
                    if not leg.hung_up:
                        with contextlib.suppress(ClusterUnavailable):
                            await bus.send(
                                home, {"kind": "close", "conn": conn, "code": closed.code}
                            )
                    return
                try:
                    heard = await bus.send(
                        home, {"kind": "frame", "conn": conn, **frame_fields(frame)}
                    )
                    if not heard and await presence(self._cluster, home) == (True, False):
                        # The home died since the last watch: resume elsewhere now, rather
                        # than wait for the watch (the client is asking for something).
                        leg.hang_up(CLOSE_MOVING, "moving")
                        continue
                except ClusterUnavailable:
                    heard = 0
                if not heard:
                    # Redis is away (or the home not subscribed again yet): the request
                    # cannot reach the meeting now. Media flows on (it goes straight to the
                    # home); the client hears why its request went unanswered.
                    leg.out(unavailable_frame(parse_id(frame)))
        except ClusterUnavailable:
            leg.out(unavailable_frame(parse_id(first)))
            leg.hang_up(CLOSE_MOVING, "moving")
        finally:
            self._legs.pop(conn, None)
            if leg.hung_up:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(leg.writer, 1.0)
            leg.writer.cancel()
            await socket.close(1000, "bye")


async def presence(cluster: Cluster, worker_id: str) -> tuple[bool, bool]:
    """(announced: its heartbeat hash exists, subscribed: its bus subscription is there)."""
    pipe = cluster.link.redis.pipeline(transaction=False)
    pipe.exists(keys.worker(worker_id))
    pipe.pubsub_numsub(keys.bus(worker_id))
    exists, numsub = await cluster.link.call(pipe.execute())
    return bool(exists), sum(int(count) for _, count in numsub) > 0


class Deaths:
    """Tells a dead worker from one that only looks dead for a moment.

    A process that dies loses its bus subscription at once (kill -9 included) while its
    announcement (heartbeat hash) lasts a few seconds more: announced but not subscribed on
    `SUBSCRIPTION_MISSES` checks in a row is death, seen within a second. Redis come back
    empty looks different: neither announced nor subscribed, until the worker's bus subscribes
    again (`Bus` retries every 0.2 s) and its heartbeat announces it (within 2 s); that is no
    death, so that a Redis restart never sends a live meeting's clients away (their resume
    could then claim a second home). Not announced for `HEARTBEAT_MISSES` checks in a row (a
    hung worker, whose announcement expired) is death too."""

    SUBSCRIPTION_MISSES = 3
    HEARTBEAT_MISSES = 24  # 6 s

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._misses: dict[str, tuple[int, int]] = {}

    async def dead(self, worker_id: str) -> bool:
        """Raises `ClusterUnavailable`; then nothing is learnt."""
        announced, subscribed = await presence(self._cluster, worker_id)
        unsubscribed, unannounced = self._misses.get(worker_id, (0, 0))
        unsubscribed = unsubscribed + 1 if announced and not subscribed else 0
        unannounced = 0 if announced else unannounced + 1
        self._misses[worker_id] = (unsubscribed, unannounced)
        return unsubscribed >= self.SUBSCRIPTION_MISSES or unannounced >= self.HEARTBEAT_MISSES

    def forget(self, keep: set[str]) -> None:
        for worker_id in set(self._misses) - keep:
            del self._misses[worker_id]


async def watch(cluster: Cluster, relays: Relays, remotes: RemoteSessions) -> None:
    """Every `WATCH_S`: a dead home's relayed clients are sent to resume elsewhere, a dead
    landing worker's clients are dropped on their home (places kept). A Redis that does not
    answer says nothing about anyone's death: then nothing is done (and a Redis just come
    back empty is no death either: `Deaths`)."""
    deaths = Deaths(cluster)
    while True:
        await asyncio.sleep(WATCH_S)
        try:
            homes, landings = relays.homes(), remotes.landings()
            deaths.forget(homes | landings)
            for home in homes:
                if await deaths.dead(home):
                    log.warning("home worker %s is gone: its relayed clients move", home)
                    relays.home_died(home)
            for landing in landings:
                if await deaths.dead(landing):
                    log.warning("worker %s is gone: its clients here dropped", landing)
                    remotes.landing_died(landing)
        except ClusterUnavailable:
            continue
        except Exception:
            log.exception("watching the workers failed")
