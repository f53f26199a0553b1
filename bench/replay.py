"""A fixed replay through the real forwarding path, for counting instructions per packet.

Timing the server under `mosaic bots` moves by ±25 % on this shared machine; counting the
instructions of a deterministic replay does not. The replay is one process: P participants
publish Chromium's offer (Opus, and VP8 in three simulcast layers) to a real `Router` and
each subscribes to everyone, as the bots do. Every packet goes the way a server's does: SRTP
unprotect (`mosaic.rtc.srtp_in`, as the bridge's receive path), `PublishPeer` parsing and
routing, the up stream (statistics, cache, keyframe state, audio level), the router's 50 ms
clock, and for every receiver the down track's rewrite, transport-wide numbering, SRTP protect
(`mosaic.rtc.srtp_out`, the bridge's own send path) and `sendto` on a real UDP socket of
asyncio's loop. The clock is a fake one moved by the replay (20 ms of media a step), so two
runs make the same calls.

A sink process (not traced by valgrind: it is exec'd without ``--trace-children``) counts
the datagrams that arrive, by RTP and RTCP: nothing may be dropped to look cheap.

Run directly: ``python -m bench.replay --publishers 4 --steps 150`` prints one JSON line.
`bench.instructions` runs it twice under callgrind and takes the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import selectors
import socket
import subprocess
import sys
import time
from typing import Any

import pylibsrtp

from mosaic.media.wire.rtp import build_rtp
from mosaic.rtc import fastpath
from mosaic.rtc.aiortc_bridge import srtp_context
from mosaic.rtc.srtp_in import unprotector
from mosaic.rtc.srtp_out import SrtpSender
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import (
    AUDIO_LEVEL_ID,
    CHROMIUM_AUDIO_SSRC,
    MID_ID,
    RID_ID,
    FakeClock,
    FakeTransport,
    Frames,
    Gate,
    Meeting,
)

# The profile aiortc negotiates first, with browsers and bots alike: AEAD AES-256-GCM (the
# master key and salt are 32 + 12 bytes).
PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
KEY_IN = bytes(range(44))  # every publisher's
KEY_OUT = bytes(range(44, 88))
STEP_S = 0.02
# Per 20 ms step and publisher: one Opus packet of a talker, and VP8 on one layer (as the bots
# publish: aiortc sends no simulcast), 4 packets of 1,100 bytes (1.8 Mbit/s); a keyframe
# each 0.5 s.
LAYERS = {"f": (4, 1100, 1280, 720)}
KEYFRAME_EVERY = 25


class ReplayTransport(FakeTransport):
    """A `seam.Transport` with the bridge's send path: real SRTP, a real UDP socket."""

    def __init__(self, endpoint: asyncio.DatagramTransport, sink: tuple[str, int]) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.sink = sink
        policy = pylibsrtp.Policy(
            key=KEY_OUT, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE
        )
        self.session = pylibsrtp.Session(policy)
        self.sender = SrtpSender(self.session, srtp_context(self.session))
        self._deliver: Any = None
        # As `MediaTransport`: the compiled send path unless not built or MOSAIC_PURE_PYTHON=1.
        self.forwarder = fastpath.new_forwarder()

    def connect(self) -> None:
        sendto, remote = self.endpoint.sendto, self.sink

        def deliver(datagram: bytes) -> None:
            sendto(datagram, remote)

        self._deliver = deliver
        if self.forwarder is not None and fastpath.arm(
            self.forwarder, self.session, srtp_context(self.session), self.endpoint, remote
        ):
            self._deliver = self.forwarder.deliver
        self._protect = self.sender.protect
        self._protect_rtcp = self.sender.protect_rtcp
        super().connect()

    # What `MediaTransport.send_rtp` and `send_rtcp` do, line for line.
    def send_rtp(self, packet: bytes) -> None:
        deliver = self._deliver
        if deliver is not None:
            deliver(self._protect(packet))

    def send_rtcp(self, packet: bytes) -> None:
        deliver = self._deliver
        if deliver is not None:
            deliver(self._protect_rtcp(packet))


class ReplayMeeting(Meeting):
    """`tests.helpers.sfu.Meeting` on replay transports (one UDP endpoint each)."""

    def __init__(self, endpoints: list[asyncio.DatagramTransport], sinks: list[int]) -> None:
        from mosaic.media.sfu.router import Router

        self.clock = FakeClock()
        self.gate = Gate()
        self.frames = Frames()
        self.endpoints = endpoints
        self.sinks = sinks
        self.made: list[ReplayTransport] = []
        self.router = Router(
            self.gate, self.frames, transports=self._transport, clock=self.clock, ticking=False
        )
        self.publishers = {}

    def _transport(self) -> ReplayTransport:
        index = len(self.made)
        transport = ReplayTransport(self.endpoints[index], ("127.0.0.1", self.sinks[index]))
        self.made.append(transport)
        return transport


def media(publishers: int, steps: int) -> list[list[tuple[int, bytes]]]:
    """Each step's SRTP datagrams, by publisher index: made before the replay, so that two
    replays of different lengths differ only by the steps they forward."""
    rng = random.Random(7)
    inbound = pylibsrtp.Session(
        pylibsrtp.Policy(
            key=KEY_IN, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=PROFILE
        )
    )
    sequence: dict[int, int] = {}
    out: list[list[tuple[int, bytes]]] = []

    def packet(ssrc: int, pt: int, ts: int, payload: bytes, ext: list[tuple[int, bytes]]) -> bytes:
        number = sequence.get(ssrc, 100)
        sequence[ssrc] = (number + 1) & 0xFFFF
        data = build_rtp(
            payload_type=pt,
            sequence_number=number,
            timestamp=ts & 0xFFFFFFFF,
            ssrc=ssrc,
            payload=payload,
            marker=True,
            extensions=ext,
        )
        return inbound.protect(data)

    for step in range(steps):
        now = 1000.0 + step * STEP_S
        datagrams: list[tuple[int, bytes]] = []
        for p in range(publishers):
            level = rng.randrange(5, 30)
            datagrams.append(
                (
                    p,
                    packet(
                        CHROMIUM_AUDIO_SSRC,
                        111,
                        int(now * 48000),
                        b"\xfc" + rng.randbytes(99),
                        [(MID_ID, b"0"), (AUDIO_LEVEL_ID, bytes([0x80 | level]))],
                    ),
                )
            )
            for index, (rid, (count, size, width, height)) in enumerate(LAYERS.items()):
                ssrc = 0x1000_0000 + p * 16 + index
                for n in range(count):
                    key = step % KEYFRAME_EVERY == 0 and n == 0
                    head = vp8_keyframe_header(width, height) if key else b"\x11"
                    # Chromium's VP8 descriptor (RFC 7741 §4.2): X; I (15-bit PictureID),
                    # L (TL0PICIDX), T (TID 0, Y): what each down track renumbers.
                    picture_id = (ssrc + step) & 0x7FFF
                    body = (
                        bytes([0x90 if n == 0 else 0x80, 0xE0, 0x80 | picture_id >> 8])
                        + bytes([picture_id & 0xFF, step & 0xFF, 0x20])
                        + head
                    )
                    payload = body + rng.randbytes(size - len(body))
                    ext = [(MID_ID, b"1"), (RID_ID, rid.encode())]
                    datagrams.append((p, packet(ssrc, 96, int(now * 90000), payload, ext)))
        out.append(datagrams)
    return out


async def replay(publishers: int, steps: int, total_steps: int) -> dict[str, Any]:
    """Forward ``steps`` of ``total_steps`` made; the CPU split of the forwarding part."""
    random.seed(11)
    # Blocking on purpose: set-up, before anything is measured.
    sink = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "bench.replay", "--sink", str(2 * publishers)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    ports = [int(p) for p in sink.stdout.readline().split()]
    stop_port = int(sink.stdout.readline())
    loop = asyncio.get_running_loop()
    endpoints = []
    for _ in range(2 * publishers):
        endpoint, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        endpoint.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        endpoints.append(endpoint)
    plan = media(publishers, total_steps)
    meeting = ReplayMeeting(endpoints, ports)
    names = [f"p{i}" for i in range(publishers)]
    browsers = [await meeting.publish(name) for name in names]
    inbound = [
        pylibsrtp.Session(
            pylibsrtp.Policy(
                key=KEY_IN, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE
            )
        )
        for _ in names
    ]
    for name in names:
        await meeting.subscribe(name)
    for name in names:
        await meeting.answer(name)
    receive = [browser.transport.on_rtp for browser in browsers]
    # As `_GuardedStunProtocol` unprotects (compiled, or on a buffer of its own).
    unprotect = [unprotector(session, srtp_context(session)) for session in inbound]
    clock, router = meeting.clock, meeting.router
    last_tick = clock.now
    started = os.times()
    wall = time.perf_counter()
    for step in range(steps):
        clock.now += STEP_S
        if clock.now - last_tick >= 0.05 - 1e-9:
            last_tick = clock.now
            router.tick()
        for p, datagram in plan[step]:
            receive[p](unprotect[p](datagram))
        if step % 10 == 9:
            await asyncio.sleep(0)  # let the loop breathe, as a server's would
    ended = os.times()
    wall_s = time.perf_counter() - wall
    for endpoint in endpoints:
        endpoint.close()
    await asyncio.sleep(0.2)  # the last datagrams reach the sink
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stop:
        stop.sendto(b"stop", ("127.0.0.1", stop_port))
    rtp_in, rtcp_in = (int(v) for v in sink.stdout.readline().split())
    sink.wait()
    sent = sum(
        down.packets_sent
        for subscriber in router.subscribers.values()
        for down in subscriber.peer.slots
    )
    if os.environ.get("REPLAY_DEBUG"):
        for pid, subscriber in router.subscribers.items():
            for down in subscriber.peer.slots:
                src = down.source
                print(
                    pid,
                    down.kind,
                    down.packets_sent,
                    getattr(src, "rid", None),
                    down.target and down.target.rid,
                    file=sys.stderr,
                )
    return {
        "publishers": publishers,
        "steps": steps,
        "received": sum(len(plan[s]) for s in range(steps)),
        "forwarded": sent,
        "sink_rtp": rtp_in,
        "sink_rtcp": rtcp_in,
        # Whether the compiled send path forwarded (`mosaic.rtc.fastpath`), and how many
        # datagrams it handed to asyncio (a full socket buffer) rather than sent itself.
        "fastpath": all(t.forwarder is not None and t.forwarder.armed for t in meeting.made),
        "handed_over": sum(t.forwarder.handed_over for t in meeting.made if t.forwarder),
        "user_s": round(ended.user - started.user, 4),
        "system_s": round(ended.system - started.system, 4),
        "wall_s": round(wall_s, 4),
    }


def sink(sockets: int) -> None:
    """The receivers' end, in a process of its own: ``sockets`` UDP ports (printed), then
    the datagrams counted (RTP, RTCP) until one arrives on the stop port (printed second)."""
    selector = selectors.DefaultSelector()
    ports = []
    for _ in range(sockets + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
        ports.append(s.getsockname()[1])
    stop = ports.pop()
    print(" ".join(map(str, ports)), flush=True)
    print(stop, flush=True)
    rtp = rtcp = 0
    while True:
        for key, _ in selector.select():
            receiver: socket.socket = key.fileobj  # type: ignore[assignment]
            if receiver.getsockname()[1] == stop:
                print(rtp, rtcp, flush=True)
                return
            while True:
                try:
                    data = receiver.recv(2048)
                except BlockingIOError:
                    break
                if 192 <= data[1] <= 223:
                    rtcp += 1
                else:
                    rtp += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay")
    parser.add_argument("--sink", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--total-steps", type=int, default=0, help="made (default: --steps)")
    args = parser.parse_args(argv)
    if args.sink:
        sink(args.sink)
        return 0
    total = max(args.total_steps, args.steps)
    print(json.dumps(asyncio.run(replay(args.publishers, args.steps, total))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
