"""One meeting's media over several workers, its signaling on one (cluster mode only).

Jitsi's model: one signaling focus, media spread over bridges. The home worker keeps the
meeting's `Room` and every participant's `Session`; `SpannedMedia` is that room's media
plane (`signaling.room.MediaRoom`, as `Router` is on a single process). Each participant's
media is terminated on one *media worker*, chosen at its first media operation by
``choose`` (`cluster.placement.MediaPlacement`: the home while it holds fewer than
--worker-capacity media participants, else the least-loaded live worker) and kept until it
leaves or that worker dies. Its operations run in order, one after the other (a lock per
participant, taken in call order), on the home's own router or on that worker's *slice*
(`mosaic.signaling.slices`) over the bus. A slice that does not answer within
`CALL_TIMEOUT_S` makes the operation fail as a bad negotiation does (`SdpError`): the
client hears a typed error and may try again.

The rules stay on the home: every change the room makes (`sources_changed`,
`scope_changed`) is turned into `DomainGate` answers and pushed to every slice
(``span_gate``: changes only; a new slice gets the whole table), so that each slice's
router obeys exactly what the home's does.

A slice worker dies (`relay.Deaths`): the home forgets its participants' media, closes
their signaling connections with 1012; each resumes at once, and `resumed` says its media
must start afresh (the reply's ``restored``), placed again on a live worker. The other
slices' meshes are told the new set of peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable
from mosaic.cluster.node import Cluster
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.roster import Participant, Source
from mosaic.media.sfu.router import Router
from mosaic.media.wire.sdp import SdpError
from mosaic.signaling.media_gate import DomainGate
from mosaic.signaling.relay import CLOSE_MOVING, WATCH_S, Deaths
from mosaic.signaling.rooms import Rooms
from mosaic.signaling.slices import Mesh, MeshFactory, Outbound, Slices, mesh_peers
from mosaic.signaling.span_messages import (
    HOME_KINDS,
    PeerEntry,
    SpanCondition,
    SpanEvent,
    SpanReply,
    parse,
)
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

# A slice that has not answered an operation by then is taken as failed (its worker is
# dying, or Redis is away): the caller gets the error a bad negotiation gets.
CALL_TIMEOUT_S = 5.0

# (meeting id, media participants on the home now) -> the worker that takes the next one.
Choose = Callable[[str, int], Awaitable[str]]
# (meeting id, participant id) -> close that participant's signaling connection (1012).
Disconnect = Callable[[str, str], None]


def _failed(error: BaseException) -> None:
    log.error("a spanned media operation failed", exc_info=error)


def _no_condition(participant_id: str, quality: str, uplink_unstable: bool) -> None:
    """Until the room listens (`Rooms.open` sets `on_condition`)."""


def gate_entry(gate: DomainGate, participant_id: str) -> dict[str, Any] | None:
    """What the home's gate answers for one participant, as a slice's `TableGate` keeps it."""
    if gate.meeting.roster.get(participant_id) is None:
        return None
    return {
        "negotiate": sorted(s.value for s in Source if gate.may_publish(participant_id, s)),
        "forward": sorted(s.value for s in Source if gate.may_forward(participant_id, s)),
        "room": gate.meeting.breakouts.room_of(participant_id),
    }


def _everyone(meeting: LiveMeeting) -> list[str]:
    return [p.id for p in meeting.roster.admitted()] + [p.id for p in meeting.roster.waiting()]


class SpannedMedia:
    """The home's media plane for one meeting whose media may live on several workers."""

    def __init__(
        self,
        meeting: LiveMeeting,
        send: Callable[[str, dict[str, Any]], None],
        *,
        worker_id: str,
        post: Callable[[str, dict[str, Any]], None],
        choose: Choose,
        host_of: Callable[[str], Awaitable[str]],
        disconnect: Disconnect,
        mesh_factory: MeshFactory | None = None,
        router: Router | None = None,
        on_close: Callable[[SpannedMedia], None] = lambda media: None,
    ) -> None:
        self.meeting = meeting
        self.gate = DomainGate(meeting)
        self.router = router or Router(self.gate, send, scope=self.gate.reach)
        self._send = send
        self.worker_id = worker_id
        self._post = post
        self._choose = choose
        self._host_of = host_of
        self._disconnect = disconnect
        self._on_close = on_close
        self.placement: dict[str, str] = {}
        # Participants whose media died with their worker: their resume restarts it.
        self.lost: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._calls: dict[str, tuple[asyncio.Future[Any], str]] = {}
        self._hosts: dict[str, str] = {}
        # What every slice was last told: participant -> gate entry, and whether rooms are open.
        self._table: dict[str, dict[str, Any] | None] = {}
        self._breakouts = meeting.breakouts.is_open
        self._tasks = TaskSet(on_error=_failed)
        self._closed = False
        self._on_condition: Callable[[str, str, bool], None] = _no_condition
        self.recording = False
        self.mesh: Mesh | None = None
        if mesh_factory is not None:
            meeting_id = meeting.id

            def mesh_post(peer: str, message: dict[str, Any]) -> None:
                post(peer, {"kind": "span_mesh", "meeting": meeting_id, "mesh": message})

            self.mesh = mesh_factory(self.router, worker_id, mesh_post)

    # Rooms sets it after making the media plane; the home's router tells it directly.
    @property
    def on_condition(self) -> Callable[[str, str, bool], None]:
        return self._on_condition

    @on_condition.setter
    def on_condition(self, listener: Callable[[str, str, bool], None]) -> None:
        self._on_condition = listener
        self.router.on_condition = listener

    @property
    def local(self) -> Router:
        """The home's own slice (what the recorder records, what this worker's load counts)."""
        return self.router

    @property
    def slices(self) -> set[str]:
        """The other workers holding media of this meeting now."""
        return {worker for worker in self.placement.values() if worker != self.worker_id}

    # -- MediaRoom ---------------------------------------------------------------------------

    async def publish(self, participant_id: str, sdp: str, sources: dict[str, Source]) -> str:
        args = {"sdp": sdp, "sources": {mid: source.value for mid, source in sources.items()}}
        result = await self._op(
            participant_id, "publish", args, lambda r: r.publish(participant_id, sdp, sources)
        )
        if not isinstance(result, str):
            raise SdpError("the media worker gave no answer")
        return result

    async def answer(self, participant_id: str, sdp: str) -> None:
        await self._op(
            participant_id, "answer", {"sdp": sdp}, lambda r: r.answer(participant_id, sdp),
            place=False,
        )  # fmt: skip

    async def ice_candidate(
        self, participant_id: str, pc: str, candidate: str | None, mid: str | None
    ) -> None:
        await self._op(
            participant_id,
            "ice_candidate",
            {"pc": pc, "candidate": candidate, "mid": mid},
            lambda r: r.ice_candidate(participant_id, pc, candidate, mid),
            place=False,
        )

    async def restart(self, participant_id: str, pc: str) -> None:
        await self._op(
            participant_id, "restart", {"pc": pc}, lambda r: r.restart(participant_id, pc)
        )

    def view(
        self,
        participant_id: str,
        videos: list[tuple[str, Source, int, int]],
        max_kbps: int | None = None,
    ) -> None:
        args = {"videos": [[p, s.value, w, h] for p, s, w, h in videos], "max_kbps": max_kbps}
        self._later(
            participant_id, "view", args, lambda r: r.view(participant_id, videos, max_kbps),
            place=False,
        )  # fmt: skip

    def admit(self, participant_id: str) -> None:
        self._later(participant_id, "admit", {}, lambda r: r.admit(participant_id))

    def resumed(self, participant_id: str) -> bool:
        """True when the participant's media died with its worker: the client starts it
        afresh (the resume reply's ``restored``), placed again on a live worker."""
        if participant_id in self.lost:
            self.lost.discard(participant_id)
            self.admit(participant_id)
            return True
        self._later(participant_id, "resumed", {}, lambda r: r.resumed(participant_id), place=False)
        return False

    def sources_changed(self, participant: Participant) -> None:
        self.router.sources_changed(participant)
        self._push_gate([participant.id])

    def scope_changed(self) -> None:
        self.router.scope_changed()
        self._push_gate(list(_everyone(self.meeting)) + list(self._table))

    async def remove(self, participant_id: str) -> None:
        self.lost.discard(participant_id)
        # A worker that does not answer forgets the participant with its slice.
        with contextlib.suppress(SdpError):
            await self._op(
                participant_id, "remove", {}, lambda r: r.remove(participant_id), place=False
            )
        self._locks.pop(participant_id, None)
        worker = self.placement.pop(participant_id, None)
        self._push_gate([participant_id], placement={participant_id: None})
        if worker is not None and worker != self.worker_id and worker not in self.slices:
            self._post(worker, {"kind": "span_close", "meeting": self.meeting.id})
            self._peers_changed()

    def stats(self) -> dict[str, int]:
        """The home's own router (and relay mesh); each slice's figures are in its own
        worker's /metrics (`Slices.stats`)."""
        totals = self.router.stats()
        if self.mesh is not None:
            for name, value in self.mesh.stats().items():  # relay_relayed_in...: /metrics
                totals[f"relay_{name}"] = totals.get(f"relay_{name}", 0) + value
        return totals

    def media_participants(self) -> int:
        return sum(1 for worker in self.placement.values() if worker == self.worker_id)

    def want_all_video(self, on: bool) -> None:
        """While the home records, every video comes to its router (the recorder's)."""
        self.recording = on
        if self.mesh is not None:
            self.mesh.want_all_video(on)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for worker in self.slices:
            self._post(worker, {"kind": "span_close", "meeting": self.meeting.id})
        for future, _ in self._calls.values():
            if not future.done():
                future.set_exception(SdpError("the meeting closed"))
        self._tasks.cancel()
        if self.mesh is not None:
            with contextlib.suppress(Exception):
                await self.mesh.close()
        await self.router.close()
        self._on_close(self)

    # -- the slices' side ----------------------------------------------------------------------

    def on_reply(self, reply: SpanReply) -> bool:
        found = self._calls.get(reply.call)
        if found is None or found[1] != reply.sender:
            return False
        future = found[0]
        if not future.done():
            if reply.error is not None:
                future.set_exception(SdpError(reply.error.get("message", "failed")))
            else:
                future.set_result(reply.result)
        return True

    def on_event(self, event: SpanEvent) -> bool:
        if self.placement.get(event.participant) != event.sender:
            return False
        self._send(event.participant, event.message)
        return True

    def on_slice_condition(self, condition: SpanCondition) -> bool:
        if self.placement.get(condition.participant) != condition.sender:
            return False
        self._on_condition(condition.participant, condition.quality, condition.unstable)
        return True

    def worker_died(self, worker: str) -> None:
        """Its participants' media is gone: they resume at once and start it afresh."""
        gone = [pid for pid, where in self.placement.items() if where == worker]
        if not gone:
            return
        log.warning("media worker %s of meeting %s died: %d participants move",
                    worker, self.meeting.id, len(gone))  # fmt: skip
        for pid in gone:
            del self.placement[pid]
            self.lost.add(pid)
        for future, where in self._calls.values():
            if where == worker and not future.done():
                future.set_exception(SdpError("the media worker is gone"))
        self._peers_changed(placement=dict.fromkeys(gone))
        for pid in gone:
            self._disconnect(self.meeting.id, pid)

    # -- inside --------------------------------------------------------------------------------

    def _later(
        self,
        participant_id: str,
        op: str,
        args: dict[str, Any],
        local: Callable[[Router], object],
        *,
        place: bool = True,
    ) -> None:
        """A synchronous operation, queued behind the participant's earlier ones."""
        if self._closed:
            return
        task = self._op(participant_id, op, args, local, place=place)

        async def quietly() -> None:
            try:
                await task
            except SdpError as exc:  # nobody awaits it: said, not raised
                log.warning("media %s of %s failed: %s", op, participant_id, exc)

        self._tasks.spawn(quietly())

    def _op(
        self,
        participant_id: str,
        op: str,
        args: dict[str, Any],
        local: Callable[[Router], object],
        *,
        place: bool = True,
    ) -> asyncio.Task[Any]:
        """Run one operation after the participant's earlier ones. A task made now, so that
        operations take the participant's lock in the order they were asked for."""
        lock = self._locks.setdefault(participant_id, asyncio.Lock())

        async def run() -> Any:
            async with lock:
                worker = await self._worker_of(participant_id, place)
                # Admitted since, or new: every slice knows what it may do before it does.
                self._push_gate([participant_id])
                if worker == self.worker_id:
                    result = local(self.router)
                    return await result if asyncio.iscoroutine(result) else result
                return await self._remote(worker, participant_id, op, args)

        return asyncio.ensure_future(run())

    async def _worker_of(self, participant_id: str, place: bool) -> str:
        worker = self.placement.get(participant_id)
        if worker is not None:
            return worker
        if not place or self._closed:
            return self.worker_id  # the home's router answers as it does for a stranger
        try:
            worker = await self._choose(self.meeting.id, self.media_participants())
            if worker != self.worker_id:
                for known in (worker, self.worker_id):  # the mesh's peers: where they bind
                    if known not in self._hosts:
                        self._hosts[known] = await self._host_of(known)
        except Exception:
            log.exception("choosing a media worker failed: the home takes the participant")
            worker = self.worker_id
        if worker != self.worker_id and worker not in self.slices:
            self.placement[participant_id] = worker
            self._new_slice(worker)
        else:
            self.placement[participant_id] = worker
        self._peers_changed(placement={participant_id: worker})
        return worker

    async def _remote(self, worker: str, participant_id: str, op: str, args: dict[str, Any]) -> Any:
        call = secrets.token_hex(8)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[call] = (future, worker)
        self._post(
            worker,
            {
                "kind": "span_call",
                "meeting": self.meeting.id,
                "participant": participant_id,
                "op": op,
                "args": args,
                "call": call,
            },
        )
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                return await future
        except TimeoutError:
            raise SdpError("the media worker did not answer") from None
        finally:
            self._calls.pop(call, None)

    def _peer_entries(self, to: str) -> dict[str, dict[str, Any]]:
        own = self._hosts.get(to, "127.0.0.1")
        workers = self.slices | {self.worker_id}
        return {
            worker: {
                "host": self._hosts.get(worker, "127.0.0.1"),
                "secure": self._hosts.get(worker, "127.0.0.1") != own,
            }
            for worker in sorted(workers)
        }

    def _new_slice(self, worker: str) -> None:
        """A worker joins the meeting's media: it gets the whole table first (its messages
        leave in order, so the table is there before the first operation)."""
        table = {pid: gate_entry(self.gate, pid) for pid in _everyone(self.meeting)}
        self._table.update(table)
        self._post(
            worker,
            {
                "kind": "span_gate",
                "meeting": self.meeting.id,
                "gate": {pid: entry for pid, entry in self._table.items() if entry is not None},
                "breakouts": self._breakouts,
                "placement": dict(self.placement),
                "peers": self._peer_entries(worker),
                "full": True,
            },
        )

    def _peers_changed(self, placement: dict[str, str | None] | None = None) -> None:
        """The set of slices or who is where changed: every slice and the home's mesh hear."""
        for worker in self.slices:
            self._post(
                worker,
                {
                    "kind": "span_gate",
                    "meeting": self.meeting.id,
                    "placement": placement or {},
                    "peers": self._peer_entries(worker),
                },
            )
        if self.mesh is not None:
            peers = {w: PeerEntry(**e) for w, e in self._peer_entries(self.worker_id).items()}
            self.mesh.set_peers(mesh_peers(peers, self.worker_id))
            self.mesh.set_placement(dict(self.placement))

    def _push_gate(
        self, participant_ids: list[str], placement: dict[str, str | None] | None = None
    ) -> None:
        """Tell every slice what changed in the gate's answers (nothing when nothing did)."""
        changes: dict[str, dict[str, Any] | None] = {}
        for pid in dict.fromkeys(participant_ids):
            entry = gate_entry(self.gate, pid)
            if self._table.get(pid) != entry:
                changes[pid] = entry
                if entry is None:
                    self._table.pop(pid, None)
                else:
                    self._table[pid] = entry
        breakouts = self.meeting.breakouts.is_open
        if not changes and breakouts == self._breakouts and not placement:
            return
        self._breakouts = breakouts
        message: dict[str, Any] = {
            "kind": "span_gate",
            "meeting": self.meeting.id,
            "gate": changes,
            "breakouts": breakouts,
            "placement": placement or {},
        }
        for worker in self.slices:
            self._post(worker, dict(message))
        if placement and self.mesh is not None:
            self.mesh.set_placement(dict(self.placement))


class Spanning:
    """This worker's part of spanned meetings: the home's `SpannedMedia` of each meeting
    homed here, the slices of meetings homed elsewhere, and the watch on both ends.
    ``disconnect`` closes a participant's signaling connection (`disconnect_in`)."""

    def __init__(
        self,
        cluster: Cluster,
        disconnect: Disconnect,
        *,
        choose: Choose | None = None,
        mesh_factory: MeshFactory | None = None,
    ) -> None:
        if cluster.bus is None:
            raise ValueError("spanning needs the cluster's bus")
        self.cluster = cluster
        self.worker_id = cluster.worker_id
        self.outbound = Outbound(cluster.bus)
        self.choose: Choose = choose or cluster.media_placement.choose
        self.mesh_factory = mesh_factory
        self.media: dict[str, SpannedMedia] = {}
        self.disconnect = disconnect
        self.slices = Slices(
            cluster.bus,
            self.outbound,
            cluster.placement.home_of,
            mesh_factory=mesh_factory,
            home_mesh=self._home_mesh,
        )
        cluster.slice_routers = self.slices.routers
        cluster.slice_stats = self.slices.stats
        # The home weighs itself by its exact count, not by its last heartbeat.
        cluster.media_placement.local_count = self.media_participants
        self.refused = 0
        self.malformed = 0
        self._watcher: asyncio.Task[None] | None = None

    def factory(
        self, meeting: LiveMeeting, send: Callable[[str, dict[str, Any]], None]
    ) -> SpannedMedia:
        """The rooms' media factory in cluster mode."""
        media = SpannedMedia(
            meeting,
            send,
            worker_id=self.worker_id,
            post=self.outbound.post,
            choose=self.choose,
            host_of=self._host_of,
            disconnect=self.disconnect,
            mesh_factory=self.mesh_factory,
            on_close=self._closed,
        )
        old = self.media.get(meeting.id)
        if old is not None and old is not media:
            log.warning("meeting %s had media here already: replaced", meeting.id)
        self.media[meeting.id] = media
        return media

    def _closed(self, media: SpannedMedia) -> None:
        if self.media.get(media.meeting.id) is media:
            del self.media[media.meeting.id]

    async def _host_of(self, worker_id: str) -> str:
        """The address a worker's relay sockets bind: its first announced media address."""
        link = self.cluster.link
        media = await link.call(link.redis.hget(keys.worker(worker_id), "media"))
        text = media.decode() if isinstance(media, bytes) else str(media or "")
        return text.split(",")[0].strip() or "127.0.0.1"

    def _home_mesh(self, meeting_id: str, sender: str) -> Mesh | None:
        media = self.media.get(meeting_id)
        if media is None or sender not in media.slices:
            return None
        return media.mesh

    def install(self) -> None:
        bus = self.cluster.bus
        assert bus is not None
        handlers = {
            "span_reply": (SpanReply, SpannedMedia.on_reply),
            "span_event": (SpanEvent, SpannedMedia.on_event),
            "span_condition": (SpanCondition, SpannedMedia.on_slice_condition),
        }
        assert set(handlers) == set(HOME_KINDS)
        for kind, (model, method) in handlers.items():
            bus.on(kind, self._home_handler(model, method))
        self.slices.install()

    def _home_handler(self, model: Any, method: Callable[[SpannedMedia, Any], bool]) -> Any:
        def handle(message: dict[str, Any]) -> None:
            parsed = parse(model, message)
            if parsed is None:
                self.malformed += 1
                return
            media = self.media.get(parsed.meeting)
            try:
                taken = media is not None and method(media, parsed)
            except Exception:  # never out of a bus handler
                log.exception("a span message failed")
                taken = False
            if not taken:
                self.refused += 1

        return handle

    def start(self) -> None:
        self.install()
        self._watcher = asyncio.create_task(self._watch(), name="span watch")

    def media_participants(self) -> int:
        """Participants whose media this worker terminates, all meetings (the load)."""
        home = sum(media.media_participants() for media in self.media.values())
        return home + self.slices.media_participants()

    def stats(self) -> dict[str, int]:
        """This worker's slices' counters (the rooms' own are in `metrics.media_totals`)."""
        return self.slices.stats()

    async def _watch(self) -> None:
        """Every `WATCH_S`: a dead slice worker's participants move; a dead home's slices
        here close. A Redis that does not answer says nothing about anyone's death."""
        deaths = Deaths(self.cluster)
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                workers = {w for media in self.media.values() for w in media.slices}
                homes = self.slices.homes()
                deaths.forget(workers | homes)
                for worker in workers | homes:
                    if not await deaths.dead(worker):
                        continue
                    for media in list(self.media.values()):
                        media.worker_died(worker)
                    self.slices.home_died(worker)
            except ClusterUnavailable:
                continue
            except Exception:
                log.exception("watching the media workers failed")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.slices.close()
        await self.outbound.close()


def disconnect_in(rooms: Rooms) -> Disconnect:
    """Close a participant's signaling connection with 1012 ("service restart"): its client
    resumes at once, and its resume's ``restored`` tells it to start its media afresh."""

    def disconnect(meeting_id: str, participant_id: str) -> None:
        room = rooms.get(meeting_id)
        member = room.members.get(participant_id) if room is not None else None
        if room is not None and member is not None:
            room.spawn(member.disconnect(CLOSE_MOVING, "media moving"))

    return disconnect
