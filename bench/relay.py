"""The relay between workers: CPU per relayed packet and the latency it adds (issue 14).

Two routers in this process (the SFU's in-memory publisher and subscriber transports of
tests/helpers/sfu.py), a `RelayLink` between them on real loopback UDP, plain or SRTP. Ann
publishes on router A; Sue watches her on A (same worker), Sam on B (across the relay).

- **Latency**: one packet at a time (the next once the last has arrived), the time from the
  publisher's packet entering router A to its copy leaving for the viewer (the viewer's
  transport's `send_rtp`): through router A alone, or through A, the relay's socket pair and
  B (which includes one event-loop wake-up, as between two worker processes).
- **CPU**: `process_time` over a run of packets sent in bursts, per packet delivered, once
  with only Sue (same worker) and once with only Sam (across the relay: A's relay down track,
  its `sendto`, B's `recvfrom`, parse and up stream, B's down track); their difference is what
  the relay costs per relayed packet, on both workers together.
- **The mesh** (`measure_mesh`): the same across-relay path set up by two `RelayMesh`es, as
  a spanned meeting does: the same figures, since the mesh is not on the packet path.

    .venv/bin/python -m bench.relay [--packets N]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time
from typing import Any

from bench.stats import percentile, rounded
from mosaic.domain.roster import Source
from tests.helpers.mesh import Slices
from tests.helpers.relay import RelayedMeeting, relayed_meeting, until
from tests.helpers.sfu import FakeTransport

BURST = 50


def _timed(transport: FakeTransport, arrivals: list[float]) -> None:
    """Note when each packet leaves for this viewer (wrapping the transport's `send_rtp`)."""
    send = transport.send_rtp

    def timed(packet: bytes | bytearray) -> None:
        arrivals.append(time.perf_counter())
        send(packet)

    transport.send_rtp = timed  # type: ignore[method-assign]


async def _setup(secure: bool) -> tuple[RelayedMeeting, FakeTransport, FakeTransport]:
    m = await relayed_meeting(secure=secure)
    m.ann.video("f", keyframe=True)
    await until(lambda: m.relayed_track.streams[0].keyframe_seq >= 0)
    sam = await m.b.subscribe("sam")
    sue = await m.a.subscribe("sue")
    m.ann.all_layers(keyframe=True)
    await until(lambda: len(sam.sent_rtp) >= 1 and len(sue.sent_rtp) >= 1)
    return m, sue, sam


def _layer(m: RelayedMeeting, pid: str) -> str:
    """The layer a viewer on A was given (its tile is small): the one to send it."""
    if pid == "sam":
        return "f"  # the relayed layer
    [down] = [d for d in m.a.router.subscribers[pid].peer.slots if d.kind == "video"]
    return down.source.rid  # type: ignore[union-attr]


async def _latency(m: RelayedMeeting, viewer: FakeTransport, rid: str, packets: int) -> list[float]:
    arrivals: list[float] = []
    _timed(viewer, arrivals)
    delays = []
    for _ in range(packets):
        m.a.clock.advance(1 / 30)
        count = len(arrivals)
        sent = time.perf_counter()
        m.ann.video(rid)
        await until(lambda count=count: len(arrivals) > count)  # type: ignore[misc]
        delays.append(arrivals[count] - sent)
    return delays


async def _cpu(m: RelayedMeeting, viewer: FakeTransport, rid: str, packets: int) -> float:
    """CPU seconds per packet delivered to ``viewer``."""
    start_count = len(viewer.sent_rtp)
    started = time.process_time()
    for _ in range(packets // BURST):
        m.a.clock.advance(BURST / 1000)
        target = len(viewer.sent_rtp) + BURST
        for _ in range(BURST):
            m.ann.video(rid)
        await until(lambda target=target: len(viewer.sent_rtp) >= target)  # type: ignore[misc]
    delivered = len(viewer.sent_rtp) - start_count
    return (time.process_time() - started) / delivered


def _drop_viewer(m: RelayedMeeting, pid: str) -> None:
    """Take a viewer's down track off its stream (as if it stopped watching)."""
    router = m.a.router if pid == "sue" else m.b.router
    for down in router.subscribers[pid].peer.slots:
        down.assign(None)


async def measure(packets: int = 2000, secure: bool = False) -> dict[str, Any]:
    m, sue, sam = await _setup(secure)
    try:
        same = await _latency(m, sue, _layer(m, "sue"), packets // 4)
        across = await _latency(m, sam, "f", packets // 4)
        # CPU, one viewer at a time: first Sue alone (the relay stopped)...
        m.out.stop(m.relayed)
        cpu_same = await _cpu(m, sue, _layer(m, "sue"), packets)
    finally:
        m.close()
    m, sue, sam = await _setup(secure)
    try:
        _drop_viewer(m, "sue")  # ... then Sam alone, across the relay
        cpu_across = await _cpu(m, sam, "f", packets)
    finally:
        m.close()
    us = 1e6
    return {
        "secure": secure,
        "packets": packets,
        "latency_same_worker_us": {
            "p50": rounded(percentile(same, 0.5) * us, 1),  # type: ignore[operator]
            "p95": rounded(percentile(same, 0.95) * us, 1),  # type: ignore[operator]
        },
        "latency_across_relay_us": {
            "p50": rounded(percentile(across, 0.5) * us, 1),  # type: ignore[operator]
            "p95": rounded(percentile(across, 0.95) * us, 1),  # type: ignore[operator]
        },
        "cpu_per_packet_same_worker_us": rounded(cpu_same * us, 2),
        "cpu_per_packet_across_relay_us": rounded(cpu_across * us, 2),
        "relay_cpu_per_packet_us": rounded((cpu_across - cpu_same) * us, 2),
    }


async def measure_mesh(packets: int = 2000, secure: bool = False) -> dict[str, Any]:
    """The same path built by two `RelayMesh`es (tests/helpers/mesh.py) instead of by hand:
    Sam on slice B shows Ann, published on slice A. The mesh opens, starts and stops relay
    streams; it is not on the packet path, so its figures are the plain relay's."""
    s = await Slices.open(["a", "b"], secure=secure)
    try:
        s.place({"ann": "a", "sam": "b"})
        ann = await s["a"].publish("ann")
        ann.all_layers(keyframe=True)  # its layers are known from their first packets
        sam = await s["b"].subscribe("sam")
        s["b"].router.view("sam", [("ann", Source.CAMERA, 1280, 720)])
        await until(lambda: ("ann", Source.CAMERA) in s["b"].router.tracks)
        s.tick()
        await s["b"].answer("sam")

        def seen() -> bool:
            ann.all_layers(keyframe=True)
            s.tick()
            return any(h.payload_type == 96 for h in sam.headers())

        await until(seen)
        [down] = s["b"].router.subscribers["sam"].peer.slots_of("video")
        rid = down.source.rid or "f"  # type: ignore[union-attr]
        sent = s.meshes["a"].stats()["packets_out"]
        arrivals: list[float] = []
        _timed(sam, arrivals)
        delays = []
        for _ in range(packets // 4):
            s.clock.advance(1 / 30)
            count = len(arrivals)
            start = time.perf_counter()
            ann.video(rid)
            await until(lambda count=count: len(arrivals) > count)  # type: ignore[misc]
            delays.append(arrivals[count] - start)
        start_count = len(sam.sent_rtp)
        started = time.process_time()
        for _ in range(packets // BURST):
            s.clock.advance(BURST / 1000)
            target = len(sam.sent_rtp) + BURST
            for _ in range(BURST):
                ann.video(rid)
            await until(lambda target=target: len(sam.sent_rtp) >= target)  # type: ignore[misc]
        cpu = (time.process_time() - started) / (len(sam.sent_rtp) - start_count)
        relayed = s.meshes["a"].stats()["packets_out"] - sent
        # Calls into the mesh while packets flow (a profiled burst): none, it is not on the path.
        profile = cProfile.Profile()
        profile.enable()
        target = len(sam.sent_rtp) + BURST
        for _ in range(BURST):
            ann.video(rid)
        await until(lambda: len(sam.sent_rtp) >= target)
        profile.disable()
        mesh_calls = sum(
            calls
            for (path, _, _), (calls, *_) in pstats.Stats(profile).stats.items()  # type: ignore[attr-defined]
            if path.endswith(("sfu/mesh.py", "sfu/wants.py"))
        )
    finally:
        await s.close()
    us = 1e6
    return {
        "secure": secure,
        "packets": packets,
        "latency_across_mesh_us": {
            "p50": rounded(percentile(delays, 0.5) * us, 1),  # type: ignore[operator]
            "p95": rounded(percentile(delays, 0.95) * us, 1),  # type: ignore[operator]
        },
        "cpu_per_packet_across_mesh_us": rounded(cpu * us, 2),
        "relay_packets_per_delivered": rounded(relayed / (packets // 4 + packets), 3),
        "mesh_calls_per_packet": mesh_calls / BURST,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__)
    parser.add_argument("--packets", type=int, default=4000)
    args = parser.parse_args()
    results = [asyncio.run(measure(args.packets, secure)) for secure in (False, True)]
    results += [asyncio.run(measure_mesh(args.packets, secure)) for secure in (False, True)]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
