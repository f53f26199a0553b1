"""A meeting's media on several workers, its signaling on one: the bus between the home's
`SpannedMedia` and the other workers' slices, on a real redis-server (two workers in one
process, each with its own Redis link, bus, registry and `Spanning`).

What is attacked: a span message from a worker that is not the meeting's home is refused and
counted (no slice opens, no operation runs, nothing reaches a participant); malformed span
messages never raise out of a handler. What is shown: the mirrored gate of a slice answers
as the home's domain gate does (mute, suspend, breakout rooms); a slice closes when its home
dies; a dead slice worker's participants are sent to resume and start their media afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic.cluster.bus import Bus
from mosaic.cluster.link import RedisLink
from mosaic.cluster.node import Cluster
from mosaic.domain.breakouts import LateJoiners, Mode
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.roster import Source
from mosaic.signaling.media_gate import DomainGate
from mosaic.signaling.recording import media_recorder
from mosaic.signaling.slices import TableGate, relay_mesh_factory
from mosaic.signaling.span import SpannedMedia, Spanning, gate_entry
from mosaic.signaling.span_messages import (
    SpanCall,
    SpanCondition,
    SpanEvent,
    SpanGate,
    SpanMesh,
    SpanReply,
    parse,
)
from tests.helpers.meetings import seated
from tests.helpers.redis import RedisServer


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@dataclass
class Worker:
    """One worker's cluster part, as `Services` builds it in cluster mode."""

    cluster: Cluster
    spanning: Spanning
    disconnected: list[tuple[str, str]] = field(default_factory=list)
    # Where the home puts each next participant's media (MediaPlacement's choice, set here).
    media_on: list[str] = field(default_factory=list)

    async def close(self) -> None:
        await self.spanning.close()
        await self.cluster.close()


async def _worker(url: str, worker_id: str, media_on: str) -> Worker:
    target = [media_on]

    async def choose(meeting_id: str, home_count: int) -> str:
        return target[0]  # the tests say where each participant's media goes

    cluster = await Cluster.open(
        url,
        lambda: {"http": "", "media": "127.0.0.1", "udp": ""},
        lambda: {"cpu": 0.0},
        worker_id=worker_id,
    )
    disconnected: list[tuple[str, str]] = []
    spanning = Spanning(
        cluster,
        lambda meeting, pid: disconnected.append((meeting, pid)),
        choose=choose,
        mesh_factory=relay_mesh_factory("127.0.0.1"),
    )
    spanning.start()
    return Worker(cluster, spanning, disconnected, target)


@dataclass
class Spanned:
    home: Worker
    slice_worker: Worker
    meeting: LiveMeeting
    media: SpannedMedia
    sent: list[tuple[str, dict[str, Any]]]


@pytest.fixture
async def spanned(redis_server: RedisServer) -> AsyncIterator[Spanned]:
    """Meeting ``abcd-efgh-jkmn`` homed on ``wa`` (claimed before ``wb`` exists), whose
    participants' media ``wa`` places on ``wb``."""
    home = await _worker(redis_server.url, "wa", media_on="wb")
    meeting, *_ = seated()
    assert await home.cluster.placement.claim(meeting.id) == "wa"
    other = await _worker(redis_server.url, "wb", media_on="wb")
    sent: list[tuple[str, dict[str, Any]]] = []
    media = home.spanning.factory(meeting, lambda pid, message: sent.append((pid, message)))
    yield Spanned(home, other, meeting, media, sent)
    await media.close()
    await other.close()
    await home.close()


def offers_to(sent: list[tuple[str, dict[str, Any]]], pid: str) -> list[dict[str, Any]]:
    return [m for p, m in sent if p == pid and m.get("type") == "offer"]


def subscribed_on(worker: Worker, pid: str) -> bool:
    """Whether ``pid`` has a subscribe connection on one of that worker's slices."""
    return any(pid in piece.router.subscribers for piece in worker.spanning.slices.slices.values())


async def audio_offer() -> tuple[RTCPeerConnection, str, dict[str, Source]]:
    """A microphone's publish offer, as a client makes it."""
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp, {"0": Source.MICROPHONE}


async def test_a_participant_placed_on_another_worker_negotiates_through_the_home(
    spanned: Spanned,
) -> None:
    """The guest publishes on the slice worker (answer back as the call's reply); the
    co-host, there too, is offered the guest's voice (the slice's frame through the home)."""
    spanned.meeting.set_source(spanned.meeting.roster.get("guest"), Source.MICROPHONE, True)  # type: ignore[arg-type]
    spanned.media.admit("cohost")
    pc, sdp, sources = await audio_offer()
    try:
        answer = await spanned.media.publish("guest", sdp, sources)
        assert answer.startswith("v=0") and "a=recvonly" in answer
        await until(lambda: bool(offers_to(spanned.sent, "cohost")))
        slots = offers_to(spanned.sent, "cohost")[-1]["slots"]
        assert {"participant": "guest", "source": "microphone"} in slots.values()
    finally:
        await pc.close()
    assert spanned.media.placement == {"cohost": "wb", "guest": "wb"}
    [(_, piece)] = spanned.slice_worker.spanning.slices.slices.items()
    assert piece.home == "wa" and "guest" in piece.router.publishers
    assert "guest" not in spanned.media.local.publishers
    # The slice mirrors the home's gate whole: everyone, not only its own participants.
    assert set(piece.gate.entries) == {"host", "cohost", "guest"}
    assert spanned.slice_worker.spanning.media_participants() == 2
    assert spanned.home.spanning.media_participants() == 0


async def test_the_home_and_its_slice_link_their_relay_meshes_through_the_bus(
    spanned: Spanned,
) -> None:
    """The home names the slices to each other (span_gate's peers); their meshes' hellos
    cross as span_mesh, both ways, and each side's relay knows the other's socket."""
    spanned.media.admit("host")  # the home's own router
    spanned.media.admit("guest")  # the slice worker's
    await until(lambda: subscribed_on(spanned.slice_worker, "guest"))
    [piece] = spanned.slice_worker.spanning.slices.slices.values()
    home_mesh, slice_mesh = spanned.media.mesh, piece.mesh
    assert home_mesh is not None and slice_mesh is not None
    await until(lambda: home_mesh.linked() == {"wb"} and slice_mesh.linked() == {"wa"})
    assert spanned.media.stats()["relay_peers"] == 1
    assert spanned.slice_worker.cluster.slice_stats()["relay_peers"] == 1
    spanned.media.want_all_video(True)  # recording: the home asks for every video


async def test_span_messages_from_a_worker_that_is_not_the_home_are_refused_and_counted(
    spanned: Spanned, redis_server: RedisServer
) -> None:
    """A worker that is not the meeting's home tries to run a participant's media on a
    slice worker, to feed a slice a gate that lets a muted guest speak, to answer a call and
    to speak to a participant through the home: all refused, none reaching anyone."""
    link = RedisLink(redis_server.url)
    intruder = Bus(link, "wc")
    await intruder.start()
    slices = spanned.slice_worker.spanning.slices
    meeting = spanned.meeting.id
    try:
        await intruder.send(
            "wb",
            {"kind": "span_gate", "meeting": meeting, "full": True, "gate": {}, "placement": {}},
        )
        await intruder.send(
            "wb",
            {"kind": "span_call", "meeting": meeting, "participant": "guest", "op": "admit"},
        )
        await until(lambda: slices.refused >= 2)
        assert slices.slices == {}
        # The real home places the guest there: its slice opens.
        spanned.media.admit("guest")
        await until(lambda: subscribed_on(spanned.slice_worker, "guest"))
        before = len(spanned.sent)
        # ...and the intruder cannot use that slice either, nor speak through the home.
        for message in (
            {
                "kind": "span_gate",
                "meeting": meeting,
                "gate": {"guest": {"forward": ["microphone"]}},
            },
            {"kind": "span_call", "meeting": meeting, "participant": "guest", "op": "remove"},
            {"kind": "span_close", "meeting": meeting},
            {"kind": "span_mesh", "meeting": meeting, "mesh": {"type": "want"}},
        ):
            await intruder.send("wb", message)
        home = spanned.home.spanning
        for message in (
            {"kind": "span_event", "meeting": meeting, "participant": "guest",
             "message": {"type": "slots", "slots": {}}},
            {"kind": "span_condition", "meeting": meeting, "participant": "guest",
             "quality": "poor", "unstable": True},
            {"kind": "span_reply", "meeting": meeting, "call": "0" * 16, "result": "v=0"},
        ):  # fmt: skip
            await intruder.send("wa", message)
        await until(lambda: home.refused >= 3 and slices.refused >= 5 and bool(slices.early))
        [piece] = slices.slices.values()
        assert piece.mesh is not None and piece.mesh.stats()["dropped"] == 0  # never delivered
        assert piece.home == "wa" and "guest" in piece.router.subscribers
        assert not piece.gate.may_forward("guest", Source.MICROPHONE)
        assert len(spanned.sent) == before
    finally:
        await intruder.stop()
        await link.close()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELDS = ("meeting", "from", "participant", "op", "args", "call", "gate", "placement",
          "peers", "full", "breakouts", "mesh", "result", "error", "message", "quality",
          "unstable")  # fmt: skip
MESSAGES = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), JSON, max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MESSAGES)
def test_validation_of_span_messages_never_raises(message: dict[str, Any]) -> None:
    for model in (SpanCall, SpanGate, SpanMesh, SpanReply, SpanEvent, SpanCondition):
        parsed = parse(model, message)
        assert parsed is None or isinstance(parsed, model)


async def test_malformed_span_messages_are_dropped_and_the_handlers_live_on(
    spanned: Spanned, redis_server: RedisServer
) -> None:
    """Malformed messages of every span kind, as the home and as an intruder: counted, no
    handler raises, and the next good operation is served as if nothing had come."""
    link = RedisLink(redis_server.url)
    sender = Bus(link, "wa-imposter")
    await sender.start()
    meeting = spanned.meeting.id
    bad: list[dict[str, Any]] = [
        {},
        {"meeting": None},
        {"meeting": meeting, "participant": 7, "op": "admit"},
        {"meeting": meeting, "participant": "guest", "op": "format-disk"},
        {"meeting": meeting, "participant": "guest", "op": "publish", "args": "sdp"},
        {"meeting": meeting, "gate": {"guest": {"negotiate": ["laser"]}}, "full": True},
        {"meeting": meeting, "gate": [], "placement": 3},
        {"meeting": meeting, "mesh": "not a dict"},
        {"meeting": "x" * 10_000, "participant": "guest", "op": "admit"},
    ]
    slices = spanned.slice_worker.spanning.slices
    home = spanned.home.spanning
    try:
        for kind in ("span_call", "span_gate", "span_mesh", "span_close"):
            for message in bad:
                await sender.send("wb", {"kind": kind, **message})
        for kind in ("span_reply", "span_event", "span_condition"):
            for message in bad:
                await sender.send("wa", {"kind": kind, **message})
        await link.redis.publish("mosaic:bus:wb", "not json")
        # A bus message sent by the home itself, malformed: dropped, counted.
        await spanned.home.cluster.bus.send("wb", {"kind": "span_call", "meeting": meeting})
        await until(lambda: slices.malformed >= 20 and home.malformed >= 15)
        spanned.media.admit("guest")
        await until(lambda: subscribed_on(spanned.slice_worker, "guest"))
    finally:
        await sender.stop()
        await link.close()


def _same_answers(meeting: LiveMeeting, table: TableGate) -> None:
    domain = DomainGate(meeting)
    people = [p.id for p in meeting.roster.admitted()] + ["ghost"]
    for pid in people:
        for source in Source:
            assert table.may_publish(pid, source) == domain.may_publish(pid, source), (pid, source)
            assert table.may_forward(pid, source) == domain.may_forward(pid, source), (pid, source)
        mirrored, real = table.reach(pid), domain.reach(pid)
        assert (mirrored is None) == (real is None), pid
        if real is not None and mirrored is not None:
            assert [mirrored(p) for p in people] == [real(p) for p in people], pid


def _pushed(meeting: LiveMeeting, table: TableGate, full: bool) -> None:
    gate = DomainGate(meeting)
    entries = {p.id: gate_entry(gate, p.id) for p in meeting.roster.admitted()}
    message = {"meeting": meeting.id, "from": "wa", "gate": entries, "full": full,
               "breakouts": meeting.breakouts.is_open}  # fmt: skip
    parsed = parse(SpanGate, message)
    assert parsed is not None
    table.apply(parsed)


def test_a_slices_mirrored_gate_answers_as_the_homes_domain_gate() -> None:
    """Turned on, muted by the host, suspended, in breakout rooms: each step pushed to the
    slice's table (whole, and as changes) gives the same answers as the domain's gate."""
    meeting, host, cohost, guest = seated()
    whole, changed = TableGate(), TableGate()

    def check() -> None:
        _pushed(meeting, whole, full=True)
        _pushed(meeting, changed, full=False)
        _same_answers(meeting, whole)
        _same_answers(meeting, changed)

    check()
    for participant in (host, cohost, guest):
        meeting.set_source(participant, Source.MICROPHONE, True)
        meeting.set_source(participant, Source.CAMERA, True)
    check()
    assert whole.may_forward("guest", Source.MICROPHONE)
    meeting.block_source(host, guest, Source.MICROPHONE)  # the host mutes the guest
    check()
    assert not whole.may_forward("guest", Source.MICROPHONE)
    meeting.suspend_activities(host)
    check()
    assert not whole.may_forward("guest", Source.CAMERA)
    meeting.create_breakouts(host, ["one", "two"], Mode.MANUAL)
    check()
    rooms = [room.id for room in meeting.breakouts.rooms]
    meeting.assign_breakouts(host, {"guest": rooms[0], "cohost": rooms[1]})
    meeting.open_breakouts(host, 0.0, None, True, LateJoiners.HOST)
    check()
    reach = whole.reach("guest")
    assert reach is not None and not reach("cohost") and not reach("host")
    meeting.close_breakouts(host)
    check()
    assert whole.reach("guest") is None


async def test_a_slice_closes_when_its_home_dies(spanned: Spanned) -> None:
    spanned.media.admit("guest")
    await until(lambda: bool(spanned.slice_worker.spanning.slices.slices))
    [piece] = spanned.slice_worker.spanning.slices.slices.values()
    bus = spanned.home.cluster.bus
    assert bus is not None
    await bus.stop()  # as kill -9 looks from Redis: the subscription gone, the hash still there
    await until(lambda: not spanned.slice_worker.spanning.slices.slices, timeout=3.0)
    assert piece.closed
    await until(lambda: not piece.router.subscribers)


async def test_a_dead_slice_workers_participants_resume_and_start_their_media_afresh(
    spanned: Spanned,
) -> None:
    spanned.media.admit("guest")
    await until(lambda: subscribed_on(spanned.slice_worker, "guest"))
    bus = spanned.slice_worker.cluster.bus
    assert bus is not None
    await bus.stop()
    await until(lambda: bool(spanned.home.disconnected), timeout=3.0)
    assert spanned.home.disconnected == [(spanned.meeting.id, "guest")]
    assert spanned.media.placement == {}
    spanned.home.media_on[0] = "wa"  # the placement chooses among live workers
    assert spanned.media.resumed("guest") is True  # the resume reply says "restored"
    await until(lambda: "guest" in spanned.media.local.subscribers)  # media afresh, placed again
    assert spanned.media.placement == {"guest": "wa"}
    assert spanned.media.resumed("guest") is False  # once


async def test_a_slice_closes_when_its_last_participant_leaves(spanned: Spanned) -> None:
    slices = spanned.slice_worker.spanning.slices
    spanned.media.admit("guest")
    spanned.media.admit("cohost")
    await until(lambda: subscribed_on(spanned.slice_worker, "cohost"))
    [piece] = slices.slices.values()
    await spanned.media.remove("guest")
    assert "guest" not in piece.router.subscribers and not piece.closed
    await spanned.media.remove("cohost")
    await until(lambda: not slices.slices)
    assert piece.closed and spanned.media.slices == set()


async def test_a_slice_that_does_not_answer_fails_the_operation_as_a_bad_negotiation(
    spanned: Spanned, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mosaic.media.wire.sdp import SdpError
    from mosaic.signaling import span

    monkeypatch.setattr(span, "CALL_TIMEOUT_S", 0.5)
    spanned.media.admit("guest")
    await until(lambda: subscribed_on(spanned.slice_worker, "guest"))
    bus = spanned.slice_worker.cluster.bus
    assert bus is not None
    bus.on("span_call", lambda message: None)  # alive, but its slices hear nothing more
    with pytest.raises(SdpError, match="did not answer"):
        await spanned.media.answer("guest", "v=0\r\n")


async def test_a_spanned_meeting_is_recorded_on_its_home_with_every_video_relayed_there(
    spanned: Spanned, tmp_path: Path
) -> None:
    """The recorder records the home's router; while it runs the home's mesh asks every
    slice for every video (its want carries ``all``), and stops asking when it stops."""
    spanned.media.admit("host")
    spanned.media.admit("guest")
    await until(lambda: subscribed_on(spanned.slice_worker, "guest"))
    home_mesh = spanned.media.mesh
    assert home_mesh is not None
    await until(lambda: home_mesh.linked() == {"wb"})
    wants: list[dict[str, Any]] = []
    bus = spanned.slice_worker.cluster.bus
    assert bus is not None
    mesh_handler = bus._handlers["span_mesh"]

    def overhear(message: dict[str, Any]) -> None:
        if isinstance(message.get("mesh"), dict) and message["mesh"].get("type") == "want":
            wants.append(message["mesh"])
        mesh_handler(message)

    bus.on("span_mesh", overhear)
    recorder = media_recorder(spanned.media, spanned.meeting.id, tmp_path, str)
    await recorder.start()
    await until(lambda: any(want.get("all") for want in wants))
    await recorder.stop()
    await until(lambda: wants[-1].get("all") is False)
    assert (tmp_path / "manifest.json").exists()
