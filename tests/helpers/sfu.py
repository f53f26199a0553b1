"""In-memory stand-ins for the SFU's surroundings: transports without sockets, a clock moved
by hand, a gate, browsers' RTP and SDP, and a relay between two routers over a pipe.

The SFU's middle (router, publish and subscribe connections, tracks) runs on these exactly as
it runs on the aiortc bridge: they implement the interfaces of `mosaic.media.sfu.seam`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.negotiation import (
    DOWN_EXTENSIONS,
    OPUS_PT,
    RTX_PT,
    VP8_PT,
    PublishedSection,
)
from mosaic.media.sfu.router import Router
from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.wire.rtcp import Nack, Pli, RtcpPacket, parse_rtcp
from mosaic.media.wire.rtp import (
    ExtensionIds,
    RtpHeader,
    build_rtp,
    parse_rtp,
    rtx_original,
    unwrap_rtx,
)
from mosaic.media.wire.sdp import parse_sdp
from tests.helpers.packets import vp8_keyframe_header

FIXTURES = Path(__file__).parent.parent / "unit" / "media" / "fixtures"
# Chromium's publish offer: audio (mid 0, SSRC declared) and a camera with three simulcast
# layers q, h, f (mid 1, SSRCs learned from the RID extension, id 10; MID is id 4).
CHROMIUM_OFFER = (FIXTURES / "chromium-publish-offer.sdp").read_text()
CHROMIUM_SOURCES = {"0": Source.MICROPHONE, "1": Source.CAMERA}
CHROMIUM_AUDIO_SSRC = 3739995637
MID_ID, RID_ID, AUDIO_LEVEL_ID = 4, 10, 1
FINGERPRINT = ("sha-256", ":".join(["AB"] * 32))


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class Uplink:
    """A `seam.Uplink` that keeps what an up track asked of its publisher."""

    def __init__(self) -> None:
        self.keyframe_requests: list[int] = []
        self.nacks: list[tuple[int, list[int]]] = []

    def request_keyframe(self, ssrc: int) -> None:
        self.keyframe_requests.append(ssrc)

    def send_nack(self, ssrc: int, lost: list[int]) -> None:
        self.nacks.append((ssrc, lost))


class Downlink:
    """A `seam.Downlink` that keeps what a down track sent."""

    def __init__(self, connected: bool = True, started: bool = True) -> None:
        self.connected = connected
        self.started = started
        self.sent: list[bytes] = []

    def send_rtp(self, packet: bytes | bytearray) -> None:
        self.sent.append(bytes(packet))  # a template is stamped again for the next receiver

    def send_template(self, template: bytearray, now: float) -> None:
        self.sent.append(bytes(template))

    def awaits_media(self, now: float) -> bool:
        return self.connected or self.started


class FakeTransport:
    """A `seam.Transport` that keeps what is sent and connects when told to."""

    def __init__(self) -> None:
        self.on_rtp: Callable[[bytes], None] = lambda data: None
        self.on_rtcp: Callable[[bytes], None] = lambda data: None
        self.on_state: Callable[[str], None] = lambda state: None
        self.ice_username_fragment = secrets.token_hex(4)
        self.ice_password = secrets.token_hex(12)
        self.sent_rtp: list[bytes] = []
        self.sent_rtcp: list[bytes] = []
        self.remote_candidates: list[str | None] = []
        self.started: dict[str, Any] | None = None
        self.connected = False
        self.closed = False

    async def gather(self) -> None:
        pass

    def fingerprints(self) -> list[tuple[str, str]]:
        return [FINGERPRINT]

    def local_candidates(self) -> list[str]:
        return ["1 1 udp 2130706431 127.0.0.1 40000 typ host"]

    async def add_remote_candidate(self, candidate: str | None) -> None:
        self.remote_candidates.append(candidate)

    def start(self, **parameters: Any) -> None:
        self.started = parameters

    def connect(self) -> None:
        """ICE and DTLS are up: what the bridge reports then."""
        self.connected = True
        self.on_state("connected")

    def send_rtp(self, packet: bytes | bytearray) -> None:
        if self.connected:
            self.sent_rtp.append(bytes(packet))  # as the bridge, which copies it into SRTP

    def send_rtcp(self, packet: bytes) -> None:
        if self.connected:
            self.sent_rtcp.append(packet)

    def rtcp(self) -> list[RtcpPacket]:
        return [packet for data in self.sent_rtcp for packet in parse_rtcp(data)]

    def headers(self, ids: ExtensionIds = DOWN_EXTENSIONS) -> list[RtpHeader]:
        return [parse_rtp(data, ids) for data in self.sent_rtp]

    async def close(self) -> None:
        self.closed = True
        self.connected = False


class Transports:
    """The router's transport factory: every transport it made, in order."""

    def __init__(self) -> None:
        self.made: list[FakeTransport] = []

    def __call__(self) -> FakeTransport:
        transport = FakeTransport()
        self.made.append(transport)
        return transport


class Gate:
    """A `MediaGate` with every source allowed except those a test forbids."""

    def __init__(self) -> None:
        self.unpublishable: set[tuple[str, Source]] = set()
        self.muted: set[tuple[str, Source]] = set()

    def may_publish(self, participant_id: str, source: Source) -> bool:
        return (participant_id, source) not in self.unpublishable

    def may_forward(self, participant_id: str, source: Source) -> bool:
        return (participant_id, source) not in self.muted


class Frames:
    """What the router said to each participant's signaling."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, participant_id: str, frame: dict[str, Any]) -> None:
        self.sent.append((participant_id, frame))

    def of(self, participant_id: str, kind: str) -> list[dict[str, Any]]:
        return [f for pid, f in self.sent if pid == participant_id and f["type"] == kind]


class Meeting:
    """A router on fake transports and a fake clock, ticked by hand."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.transports = Transports()
        self.gate = Gate()
        self.frames = Frames()
        self.router = Router(
            self.gate,
            self.frames,
            transports=self.transports,
            clock=self.clock,
            ticking=False,
        )
        self.publishers: dict[str, Browser] = {}

    async def publish(self, participant_id: str) -> Browser:
        """A participant publishes Chromium's offer (microphone, simulcast camera)."""
        await self.router.publish(participant_id, CHROMIUM_OFFER, CHROMIUM_SOURCES)
        transport = self.router.publishers[participant_id].transport
        assert isinstance(transport, FakeTransport)
        transport.connect()  # a publisher's packets can only come once it is up
        browser = Browser(transport, self.clock, seed=len(self.publishers))
        self.publishers[participant_id] = browser
        return browser

    async def subscribe(self, participant_id: str) -> FakeTransport:
        """Admit a participant, answer every offer it gets and connect it."""
        self.router.admit(participant_id)
        await self.answer(participant_id)
        transport = self.router.subscribers[participant_id].peer.transport
        assert isinstance(transport, FakeTransport)
        transport.connect()
        return transport

    async def answer(self, participant_id: str) -> None:
        """Answer the offers sent (each answer may bring another offer) until none waits."""
        await settle()
        peer = self.router.subscribers[participant_id].peer
        while peer.awaiting_answer:
            offer = self.frames.of(participant_id, "offer")[-1]
            await self.router.answer(participant_id, subscribe_answer(offer["sdp"]))
            await settle()

    def tick(self, seconds: float = 0.05) -> None:
        """Move the clock on and run the router's beat as often as it would have run."""
        for _ in range(max(1, round(seconds / 0.05))):
            self.clock.advance(0.05)
            self.router.tick()


async def settle() -> None:
    """Let the negotiations the router started in the background finish."""
    for _ in range(5):
        await asyncio.sleep(0)


def subscribe_answer(offer_sdp: str) -> str:
    """A browser's answer to a subscribe offer: every section taken, receive-only."""
    answer = parse_sdp(offer_sdp)
    ufrag, pwd = secrets.token_hex(4), secrets.token_hex(12)
    for section in answer.media:
        section.direction = "recvonly"
        section.ssrcs = []
        section.ssrc_groups = []
        section.msid = None
        section.ice_ufrag, section.ice_pwd = ufrag, pwd
        section.fingerprints = [FINGERPRINT]
        section.setup = "active"
        section.candidates = []
    return str(answer)


class Browser:
    """A publishing browser's RTP, on its publish transport: audio on its declared SSRC,
    video layers q, h, f on SSRCs it makes up, numbered from the MID and RID extensions."""

    def __init__(self, transport: FakeTransport, clock: FakeClock, seed: int) -> None:
        self.transport = transport
        self.clock = clock
        self.layer_ssrcs = {rid: 0x1000_0000 + seed * 16 + index for index, rid in enumerate("qhf")}
        self.sequence: dict[int, int] = {}

    def next_sequence(self, ssrc: int) -> int:
        number = self.sequence.get(ssrc, 100)
        self.sequence[ssrc] = (number + 1) & 0xFFFF
        return number

    def audio(self, level: int = 30) -> bytes:
        """One Opus packet; ``level`` is -dBov (0 loudest, 127 silence)."""
        ssrc = CHROMIUM_AUDIO_SSRC
        data = build_rtp(
            payload_type=111,
            sequence_number=self.next_sequence(ssrc),
            timestamp=int(self.clock.now * 48000) & 0xFFFFFFFF,
            ssrc=ssrc,
            payload=b"\xfc" + bytes(40),
            extensions=[(MID_ID, b"0"), (AUDIO_LEVEL_ID, bytes([0x80 | level]))],
        )
        self.transport.on_rtp(data)
        return data

    def video(
        self, rid: str, keyframe: bool = False, width: int = 1280, height: int = 720
    ) -> bytes:
        """One VP8 packet of layer ``rid`` (a keyframe says its picture size)."""
        ssrc = self.layer_ssrcs.setdefault(rid, 0x2000_0000 + len(self.layer_ssrcs))
        payload = bytes([0x10]) + (
            vp8_keyframe_header(width, height) if keyframe else bytes([0x11]) + bytes(30)
        )
        data = build_rtp(
            payload_type=96,
            sequence_number=self.next_sequence(ssrc),
            timestamp=int(self.clock.now * 90000) & 0xFFFFFFFF,
            ssrc=ssrc,
            payload=payload,
            marker=True,
            extensions=[(MID_ID, b"1"), (RID_ID, rid.encode())],
        )
        self.transport.on_rtp(data)
        return data

    def all_layers(self, keyframe: bool = False) -> None:
        for rid, (width, height) in zip("qhf", [(320, 180), (640, 360), (1280, 720)], strict=True):
            self.video(rid, keyframe, width, height)


def pli(media_ssrc: int) -> bytes:
    return Pli(1, media_ssrc).serialize()


def nack(media_ssrc: int, lost: list[int]) -> bytes:
    return Nack(1, media_ssrc, lost).serialize()


# -- a relay between two routers ------------------------------------------------------------


class RelayPipe:
    """The wire between two processes, in memory: what goes in comes out on the far side at
    once, unless a test drops it."""

    def __init__(self) -> None:
        self.drop: set[int] = set()  # outgoing sequence numbers lost on the way, once each
        self.sent_rtp = 0
        self.keyframe_requests = 0
        self.nacks: list[int] = []


class RelaySender:
    """The sending end of a relay (a `seam.Downlink`): a `DownTrack` on router A's side."""

    connected = True
    started = True

    def __init__(self, pipe: RelayPipe) -> None:
        self.pipe = pipe
        self.receiver: RelayReceiver | None = None

    def send_rtp(self, packet: bytes | bytearray) -> None:
        packet = bytes(packet)  # a template, stamped again for the next receiver
        number = int.from_bytes(packet[2:4], "big")
        if number in self.pipe.drop:
            self.pipe.drop.discard(number)
            return
        self.pipe.sent_rtp += 1
        assert self.receiver is not None
        self.receiver.deliver(packet)

    def send_template(self, template: bytearray, now: float) -> None:
        self.send_rtp(bytes(template))

    def awaits_media(self, now: float) -> bool:
        return True


class RelayReceiver:
    """The receiving end of a relay (the `seam.Uplink` of an `UpTrack` on router B's side):
    packets arrive in router A's subscribe numbering, feedback goes back over the pipe to
    the relay's down track."""

    def __init__(self, pipe: RelayPipe, down: DownTrack, clock: FakeClock) -> None:
        self.pipe = pipe
        self.down = down
        self.clock = clock
        self.stream: UpStream | None = None

    def deliver(self, data: bytes) -> None:
        stream = self.stream
        assert stream is not None
        header = parse_rtp(data, DOWN_EXTENSIONS)
        if header.payload_type == RTX_PT:
            original_seq, _ = unwrap_rtx(data, header)
            if stream.nack is None or not stream.nack.is_missing(original_seq):
                return
            data = rtx_original(data, header, payload_type=VP8_PT, ssrc=stream.ssrc)
            header = parse_rtp(data, DOWN_EXTENSIONS)
        stream.receive(data, header, self.clock())

    def request_keyframe(self, ssrc: int) -> None:
        self.pipe.keyframe_requests += 1
        self.down.request_keyframe(self.clock())

    def send_nack(self, ssrc: int, lost: list[int]) -> None:
        self.pipe.nacks.extend(lost)
        for number in lost:
            packet = self.down.retransmission(number, self.clock())
            if packet is not None:
                self.deliver(packet)


def relay(track: UpTrack, layer: UpStream, to: Router, clock: FakeClock) -> RelayPipe:
    """Relay one layer of ``track`` (shown by one router) into router ``to``, the way a
    relay between processes will: a down track on this side, an up track on the other,
    added with the public `Router.add_track`. Neither router is told it is a relay."""
    pipe = RelayPipe()
    sender = RelaySender(pipe)
    video = track.kind == "video"
    down = DownTrack(
        sender,
        track.kind,
        f"relay-{track.mid}",
        ssrc=secrets.randbits(31) + 1,
        rtx_ssrc=secrets.randbits(31) + 1,
        payload_type=VP8_PT if video else OPUS_PT,
        rtx_payload_type=RTX_PT if video else None,
    )
    receiver = RelayReceiver(pipe, down, clock)
    sender.receiver = receiver
    section = PublishedSection(
        track.mid,
        track.kind,
        track.codec,
        VP8_PT if video else OPUS_PT,
        track.clock_rate,
        RTX_PT if video else None,
        [],
    )
    relayed = UpTrack(track.participant_id, track.source, section, receiver, DOWN_EXTENSIONS)
    receiver.stream = relayed.stream(down.ssrc, None)
    to.add_track(relayed)
    down.assign(track)
    down.want(layer, clock())
    return pipe


# -- the two sides of the seam, each without the other -------------------------------------


class Feed:
    """A `seam.Feed` that is not an up stream: it sends what a test gives it, and keeps each
    packet to resend. What a down track can do with it is all it can do with any feed."""

    clock_rate = 90000

    def __init__(self) -> None:
        self.downs: list[Sink] = []
        self.waiting: list[Sink] = []
        self.keyframe_requests = 0
        self.packets: dict[int, bytes] = {}

    def add_down(self, down: Sink) -> None:
        self.downs.append(down)

    def remove_down(self, down: Sink) -> None:
        self.downs.remove(down)

    def wait_keyframe(self, down: Sink) -> None:
        self.waiting.append(down)

    def cancel_wait(self, down: Sink) -> None:
        if down in self.waiting:
            self.waiting.remove(down)

    def catch_up(self, down: Sink, now: float) -> bool:
        return False

    def request_keyframe(self, now: float) -> None:
        self.keyframe_requests += 1

    def resend(self, sequence_number: int, now: float) -> tuple[bytearray, RtpHeader] | None:
        data = self.packets.get(sequence_number)
        if data is None:
            return None
        return bytearray(data), parse_rtp(data, ExtensionIds())

    def send(self, data: bytes, now: float) -> None:
        header = parse_rtp(data, ExtensionIds())
        self.packets[header.sequence_number] = data
        for down in list(self.downs):
            down.write(bytearray(data), header, now)


class Sink:
    """A `seam.Sink` that is not a down track: it keeps what its feed did to it."""

    def __init__(self, ready: bool = True, coming_up: bool = True) -> None:
        self.ready = ready  # connected
        self.coming_up = coming_up  # or connecting, and not for too long
        self.written: list[int] = []
        self.skipped: list[int] = []
        self.started: list[object] = []
        self.detached = False

    def write(self, template: bytearray, header: RtpHeader, now: float) -> None:
        self.written.append(header.sequence_number)

    def skip(self, sequence_number: int) -> None:
        self.skipped.append(sequence_number)

    def start(self, feed: Any, now: float) -> None:
        self.started.append(feed)
        feed.add_down(self)

    def detach(self) -> None:
        self.detached = True

    def awaits_media(self, now: float) -> bool:
        return self.ready or self.coming_up
