"""A meeting's media on a worker that is not its home: a *slice* (cluster mode only).

A meeting's signaling (its `Room`, every `Session`) lives on its home worker; its media may
be spread over several workers (`mosaic.signaling.span.SpannedMedia` decides who goes
where). Every worker but the home that terminates media of a meeting runs a slice of it: a
plain `Router` whose gate is a `TableGate` (a mirror of the home's `DomainGate` answers,
pushed by the home with ``span_gate``), and a `RelayMesh` that carries tracks between the
meeting's slices. Host controls are therefore enforced where the target's media enters
(its slice's router asks the mirrored gate before negotiating or forwarding) and again
wherever it is shown (every router asks its own gate before forwarding a relayed track).

The bus kinds (each carries ``meeting``; ``from`` is added by `Bus.send`):

    home  -> slice  span_call   participant, op, args[, call]   a `MediaRoom` operation
    slice -> home   span_reply  call, result | error            its outcome
    home  -> slice  span_gate   gate, breakouts, placement, peers, full
    slice -> home   span_event  participant, message            what its router sends someone
    slice -> home   span_condition participant, quality, unstable
    slice <-> slice span_mesh   mesh                            a `RelayMesh` message
    home  -> slice  span_close                                  the meeting left this worker

A slice is made by the first ``span_call`` or full ``span_gate`` of a meeting from the
worker the placement says is its home (checked in Redis before anything is done); a message
from any other worker is dropped and counted (`Slices.refused`), as is a malformed one
(`Slices.malformed`): no handler ever raises. A slice closes on ``span_close``, when its last
participant leaves, or when its home dies (`relay.Deaths`, watched by `span.Spanning`).
Nothing here runs per packet: the relay's packets go over UDP, between `RelayLink`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from mosaic.cluster.bus import Bus
from mosaic.cluster.link import ClusterUnavailable
from mosaic.domain.roster import Source
from mosaic.media.sfu.router import Router
from mosaic.media.sfu.scope import Reach
from mosaic.media.wire.sdp import SdpError
from mosaic.signaling.span_messages import (
    ARGS,
    AnswerArgs,
    CandidateArgs,
    GateEntry,
    PeerEntry,
    PublishArgs,
    RestartArgs,
    SpanCall,
    SpanClose,
    SpanGate,
    SpanMesh,
    ViewArgs,
    parse,
)
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

# Mesh messages from a peer not yet named are kept this long, this many at most (all meetings).
EARLY_S = 5.0
MAX_EARLY = 2000


def _failed(error: BaseException) -> None:
    log.error("a slice's task failed", exc_info=error)


# -- order on the bus ----------------------------------------------------------------------


class Outbound:
    """Messages to each worker leave in the order they were posted (one queue and one writer
    per destination), without the poster waiting: the room's and the router's calls are
    synchronous. A message Redis cannot take is lost (counted), as pub/sub loses it anyway
    when its reader is gone; the death watch says what that means."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks = TaskSet(on_error=_failed)
        self.lost = 0

    def post(self, worker_id: str, message: dict[str, Any]) -> None:
        queue = self._queues.get(worker_id)
        if queue is None:
            queue = self._queues[worker_id] = asyncio.Queue()
            queue.put_nowait(message)
            self._tasks.spawn(self._write(worker_id, queue))
        else:
            queue.put_nowait(message)

    async def _write(self, worker_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = queue.get_nowait()
            try:
                await self._bus.send(worker_id, message)
            except ClusterUnavailable:
                self.lost += 1
            if queue.empty():  # nothing awaited between this and the removal: no race
                del self._queues[worker_id]
                return

    async def close(self) -> None:
        await self._tasks.wait(timeout=1.0)
        self._tasks.cancel()


# -- the mirrored gate ---------------------------------------------------------------------


class TableGate:
    """The home's gate decisions as a table (`mosaic.signaling.media_gate.DomainGate` asks
    the domain; a slice has no meeting, only what the home pushed). Unknown participants
    may do nothing and are in main, as on the home."""

    def __init__(self) -> None:
        self.entries: dict[str, GateEntry] = {}
        self.breakouts_open = False

    def may_publish(self, participant_id: str, source: Source) -> bool:
        entry = self.entries.get(participant_id)
        return entry is not None and source in entry.negotiate

    def may_forward(self, participant_id: str, source: Source) -> bool:
        entry = self.entries.get(participant_id)
        return entry is not None and source in entry.forward

    def room_of(self, participant_id: str) -> str | None:
        entry = self.entries.get(participant_id)
        return entry.room if entry is not None and self.breakouts_open else None

    def reach(self, viewer_id: str) -> Reach:
        if not self.breakouts_open:
            return None
        room = self.room_of(viewer_id)
        return lambda publisher_id: self.room_of(publisher_id) == room

    def apply(self, gate: SpanGate) -> tuple[set[str], bool]:
        """Take the home's changes (or whole table); returns who changed and whether anyone's
        reach may have (rooms opened, closed or someone moved)."""
        if gate.full:
            gone = set(self.entries) - set(gate.gate)
            for pid in gone:
                del self.entries[pid]
        else:
            gone = set()
        changed: set[str] = set(gone)
        scope = bool(gone)
        if gate.breakouts is not None and gate.breakouts != self.breakouts_open:
            self.breakouts_open = gate.breakouts
            scope = True
        for pid, entry in gate.gate.items():
            old = self.entries.get(pid)
            if entry is None:
                if self.entries.pop(pid, None) is not None:
                    changed.add(pid)
                    scope = True
                continue
            if old != entry:
                self.entries[pid] = entry
                changed.add(pid)
                scope = scope or old is None or old.room != entry.room
        return changed, scope


# -- the mesh, as this module needs it (helper B's `mosaic.media.sfu.mesh.RelayMesh`) --------


class Mesh(Protocol):
    def set_peers(self, peers: list[Any]) -> None: ...
    def set_placement(self, media_worker: dict[str, str]) -> None: ...
    def receive(self, from_worker: str, message: dict[str, Any]) -> None: ...
    def want_all_video(self, on: bool) -> None: ...
    def stats(self) -> dict[str, int]: ...
    async def close(self) -> None: ...


# (router, this worker, post to a peer worker's mesh of the same meeting) -> a mesh.
MeshFactory = Callable[[Router, str, Callable[[str, dict[str, Any]], None]], Mesh | None]


def relay_mesh_factory(host: str) -> MeshFactory:
    """B's `RelayMesh`, its relay sockets bound on ``host`` (this worker's media address)."""

    def make(router: Router, worker_id: str, post: Callable[[str, dict[str, Any]], None]) -> Mesh:
        from mosaic.media.sfu.mesh import RelayMesh

        return RelayMesh(router, worker_id, post, host=host)

    return make


def mesh_peers(peers: dict[str, PeerEntry], me: str) -> list[Any]:
    from mosaic.media.sfu.mesh import MeshPeer

    return [
        MeshPeer(worker_id, peer.host, peer.secure)
        for worker_id, peer in sorted(peers.items())
        if worker_id != me
    ]


class _Participant:
    """Not a domain participant: what `Router.sources_changed` reads (its id)."""

    def __init__(self, participant_id: str) -> None:
        self.id = participant_id


# -- one slice -----------------------------------------------------------------------------


@dataclass(eq=False)
class Slice:
    meeting_id: str
    home: str
    router: Router
    gate: TableGate
    mesh: Mesh | None = None
    participants: set[str] = field(default_factory=set)
    peers: dict[str, PeerEntry] = field(default_factory=dict)
    # Participant -> the worker its media is on, for the whole meeting (the mesh's view).
    placement: dict[str, str] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # Until the placement in Redis confirmed its home: messages wait here, in order.
    pending: list[Callable[[], None]] | None = field(default_factory=list)
    closed: bool = False


class Slices:
    """This worker's slices of meetings homed elsewhere, and the bus handlers that run them."""

    def __init__(
        self,
        bus: Bus,
        outbound: Outbound,
        home_of: Callable[[str], Awaitable[str | None]],
        *,
        mesh_factory: MeshFactory | None = None,
        home_mesh: Callable[[str, str], Mesh | None] = lambda meeting, sender: None,
        router_factory: Callable[[TableGate, Callable[[str, dict[str, Any]], None]], Router]
        | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``home_of`` reads the meeting's home from the placement (Redis); ``home_mesh``
        finds the mesh of a meeting homed *here* that ``sender`` is a slice of (span_mesh
        from a slice to its home)."""
        self._bus = bus
        self.worker_id = bus.worker_id
        self._out = outbound
        self._home_of = home_of
        self._mesh_factory = mesh_factory
        self._home_mesh = home_mesh
        self._router_factory = router_factory or _router
        self.slices: dict[tuple[str, str], Slice] = {}
        self._tasks = TaskSet(on_error=_failed)
        self._clock = clock
        # Mesh messages from peers not (yet) named: (arrival, message), oldest first.
        self.early: deque[tuple[float, SpanMesh]] = deque()
        self.refused = 0
        self.malformed = 0

    def install(self) -> None:
        self._bus.on("span_call", self._guarded(self._on_call))
        self._bus.on("span_gate", self._guarded(self._on_gate))
        self._bus.on("span_mesh", self._guarded(self._on_mesh))
        self._bus.on("span_close", self._guarded(self._on_close))

    def _guarded(self, handler: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        """A last guard: whatever a message holds, its handler never raises."""

        def handle(message: dict[str, Any]) -> None:
            try:
                handler(message)
            except Exception:
                self.malformed += 1
                log.exception("a span message could not be handled")

        return handle

    def media_participants(self) -> int:
        return sum(len(s.participants) for s in self.slices.values() if s.pending is None)

    def routers(self) -> list[Router]:
        """The routers of the open slices (their participants count in this worker's load)."""
        return [piece.router for piece in self.slices.values() if piece.pending is None]

    def homes(self) -> set[str]:
        return {home for _, home in self.slices}

    def stats(self) -> dict[str, int]:
        """The open slices' routers' and meshes' counters, summed (this worker's /metrics)."""
        totals: dict[str, int] = {}
        for piece in self.slices.values():
            figures = piece.router.stats()
            if piece.mesh is not None:  # prefixed as `SpannedMedia.stats` does
                figures.update({f"relay_{k}": v for k, v in piece.mesh.stats().items()})
            for name, value in figures.items():
                totals[name] = totals.get(name, 0) + value
        return totals

    # -- handlers (plain functions: the bus runs them in arrival order; never raise) -----------

    def _on_call(self, message: dict[str, Any]) -> None:
        call = parse(SpanCall, message)
        if call is None:
            self.malformed += 1
            return
        piece = self._slice(call.meeting, call.sender, create=True)
        if piece is not None:
            self._when_ready(piece, lambda: self._run_call(piece, call))

    def _on_gate(self, message: dict[str, Any]) -> None:
        gate = parse(SpanGate, message)
        if gate is None:
            self.malformed += 1
            return
        piece = self._slice(gate.meeting, gate.sender, create=gate.full)
        if piece is not None:
            self._when_ready(piece, lambda: self._apply_gate(piece, gate))

    def _on_mesh(self, message: dict[str, Any]) -> None:
        mesh = parse(SpanMesh, message)
        if mesh is None:
            self.malformed += 1
            return
        target = self._home_mesh(mesh.meeting, mesh.sender)
        if target is None:
            for (meeting_id, _), piece in self.slices.items():
                if meeting_id == mesh.meeting and mesh.sender in piece.peers and piece.mesh:
                    target = piece.mesh
                    break
        if target is None:
            self._keep_early(mesh)
            return
        _deliver(target, mesh)

    def _keep_early(self, mesh: SpanMesh) -> None:
        """A mesh message from a worker this worker does not know as a peer of the meeting
        *yet*: a new slice's peer may speak before the home's word reached this worker (or
        before this slice's home was confirmed). A mesh assumes nothing it posts is lost, so
        it is kept (a while, a bounded number) and delivered once the peer is named; what
        is never named expires and is counted as refused."""
        now = self._clock()
        while self.early and (now - self.early[0][0] > EARLY_S or len(self.early) >= MAX_EARLY):
            self.early.popleft()
            self.refused += 1
        self.early.append((now, mesh))

    def _deliver_early(self, piece: Slice) -> None:
        if not self.early or piece.mesh is None:
            return
        now, kept = self._clock(), deque[tuple[float, SpanMesh]]()
        for arrived, mesh in self.early:
            if now - arrived > EARLY_S:
                self.refused += 1
            elif mesh.meeting == piece.meeting_id and mesh.sender in piece.peers:
                _deliver(piece.mesh, mesh)
            else:
                kept.append((arrived, mesh))
        self.early = kept

    def _on_close(self, message: dict[str, Any]) -> None:
        close = parse(SpanClose, message)
        if close is None:
            self.malformed += 1
            return
        piece = self.slices.get((close.meeting, close.sender))
        if piece is None or piece.pending is not None:  # not (yet) known to be its home's
            self.refused += 1
            return
        self._close(piece)

    # -- slices ------------------------------------------------------------------------------

    def _slice(self, meeting_id: str, sender: str, *, create: bool) -> Slice | None:
        piece = self.slices.get((meeting_id, sender))
        if piece is not None:
            return piece
        if not create:
            self.refused += 1
            return None
        gate = TableGate()
        piece = Slice(meeting_id, sender, self._router_factory(gate, lambda pid, m: None), gate)
        self.slices[(meeting_id, sender)] = piece
        self._tasks.spawn(self._confirm(piece))
        return piece

    async def _confirm(self, piece: Slice) -> None:
        """Only the meeting's home (as the placement in Redis says) may open a slice of it."""
        try:
            home = await self._home_of(piece.meeting_id)
        except ClusterUnavailable:
            home = None
        if home != piece.home or piece.closed:
            log.warning("span messages for %s from %s, not its home: refused",
                        piece.meeting_id, piece.home)  # fmt: skip
            self.refused += len(piece.pending or ()) or 1
            piece.pending = None
            self._close(piece)
            return
        self._open(piece)
        waiting, piece.pending = piece.pending or [], None
        for run in waiting:
            run()

    def _open(self, piece: Slice) -> None:
        meeting_id, home = piece.meeting_id, piece.home

        def send(participant_id: str, message: dict[str, Any]) -> None:
            self._out.post(
                home,
                {
                    "kind": "span_event",
                    "meeting": meeting_id,
                    "participant": participant_id,
                    "message": message,
                },
            )

        def condition(participant_id: str, quality: str, unstable: bool) -> None:
            self._out.post(
                home,
                {
                    "kind": "span_condition",
                    "meeting": meeting_id,
                    "participant": participant_id,
                    "quality": quality,
                    "unstable": unstable,
                },
            )

        def post(peer: str, message: dict[str, Any]) -> None:
            self._out.post(peer, {"kind": "span_mesh", "meeting": meeting_id, "mesh": message})

        piece.router = self._router_factory(piece.gate, send)
        piece.router.on_condition = condition
        if self._mesh_factory is not None:
            piece.mesh = self._mesh_factory(piece.router, self.worker_id, post)
        log.info("slice of meeting %s opened (home %s)", meeting_id, home)

    def _when_ready(self, piece: Slice, run: Callable[[], None]) -> None:
        if piece.closed:
            return
        if piece.pending is not None:
            piece.pending.append(run)
        else:
            run()

    def _apply_gate(self, piece: Slice, gate: SpanGate) -> None:
        changed, scope = piece.gate.apply(gate)
        if gate.full:
            piece.participants = {p for p, w in gate.placement.items() if w == self.worker_id}
        for pid, worker in gate.placement.items():
            if worker == self.worker_id:
                piece.participants.add(pid)
        if gate.peers is not None:
            piece.peers = dict(gate.peers)
            if piece.mesh is not None:
                piece.mesh.set_peers(mesh_peers(piece.peers, self.worker_id))
            self._deliver_early(piece)
        if gate.placement or gate.full:
            placement = self._placement(piece, gate)
            if piece.mesh is not None:
                piece.mesh.set_placement(placement)
        for pid in changed:
            piece.router.sources_changed(_Participant(pid))
        if scope:
            piece.router.scope_changed()

    def _placement(self, piece: Slice, gate: SpanGate) -> dict[str, str]:
        if gate.full:
            piece.placement = {}
        for pid, worker in gate.placement.items():
            if worker is None:
                piece.placement.pop(pid, None)
            else:
                piece.placement[pid] = worker
        return dict(piece.placement)

    def _run_call(self, piece: Slice, call: SpanCall) -> None:
        piece.participants.add(call.participant)
        lock = piece.locks.setdefault(call.participant, asyncio.Lock())
        self._tasks.spawn(self._call(piece, call, lock))

    async def _call(self, piece: Slice, call: SpanCall, lock: asyncio.Lock) -> None:
        """One operation, after the participant's earlier ones (the home sends them in order;
        tasks spawned in that order take the lock in that order)."""
        async with lock:
            result: Any = None
            error: dict[str, str] | None = None
            try:
                result = await self._operate(piece, call)
            except SdpError as exc:
                error = {"code": "sdp", "message": str(exc)}
            except ValidationError:
                self.malformed += 1
                error = {"code": "sdp", "message": "malformed media operation"}
            except Exception as exc:  # answered, so that the home's caller does not wait 5 s
                log.exception("a media operation of a slice failed")
                error = {"code": "internal", "message": type(exc).__name__}
        if call.call is not None and not piece.closed:
            reply: dict[str, Any] = {"kind": "span_reply", "meeting": piece.meeting_id}
            reply["call"] = call.call
            if error is None:
                reply["result"] = result
            else:
                reply["error"] = error
            self._out.post(piece.home, reply)
        if call.op == "remove":
            piece.participants.discard(call.participant)
            piece.locks.pop(call.participant, None)
            if not piece.participants:
                self._close(piece)

    async def _operate(self, piece: Slice, call: SpanCall) -> Any:
        router, pid = piece.router, call.participant
        args = ARGS[call.op].model_validate(call.args)
        match args:
            case PublishArgs():
                return await router.publish(pid, args.sdp, args.sources)
            case AnswerArgs():
                await router.answer(pid, args.sdp)
            case CandidateArgs():
                await router.ice_candidate(pid, args.pc, args.candidate, args.mid)
            case ViewArgs():
                router.view(pid, list(args.videos), args.max_kbps)
            case RestartArgs():
                await router.restart(pid, args.pc)
            case _ if call.op == "admit":
                router.admit(pid)
            case _ if call.op == "resumed":
                router.resumed(pid)
            case _:
                await router.remove(pid)
        return None

    def home_died(self, home: str) -> None:
        for piece in [p for p in self.slices.values() if p.home == home]:
            log.warning("the home of meeting %s died: its slice here closes", piece.meeting_id)
            self._close(piece)

    def _close(self, piece: Slice) -> None:
        if piece.closed:
            return
        piece.closed = True
        if self.slices.get((piece.meeting_id, piece.home)) is piece:
            del self.slices[(piece.meeting_id, piece.home)]
        self._tasks.spawn(_close_slice(piece))

    async def close(self) -> None:
        for piece in list(self.slices.values()):
            self._close(piece)
        await self._tasks.wait(timeout=2.0)
        self._tasks.cancel()


def _deliver(target: Mesh, mesh: SpanMesh) -> None:
    try:
        target.receive(mesh.sender, mesh.mesh)
    except Exception:  # the mesh drops what it cannot read; this is a last guard
        log.exception("a relay mesh message failed")


async def _close_slice(piece: Slice) -> None:
    if piece.mesh is not None:
        with contextlib.suppress(Exception):
            await piece.mesh.close()
    await piece.router.close()


def _router(gate: TableGate, send: Callable[[str, dict[str, Any]], None]) -> Router:
    return Router(gate, send, scope=gate.reach)
