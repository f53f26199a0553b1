"""The compiled send path (`mosaic.rtc.fastpath`) against the pure-Python one: the same
datagrams on the wire for the same packets, decryptable by the far end, the same
transport-wide numbering, and a datagram the kernel refuses handled by asyncio as before.

Every test runs where the extension is built (it is skipped, with the reason, where it is
not: the pure path is then the only one, and the media tests cover it).
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import struct
from collections.abc import Callable
from typing import Any

import pylibsrtp
import pytest

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.sequencer import SequenceRewriter
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.sfu.up import UpTrack
from mosaic.media.wire.rtcp import Nack
from mosaic.media.wire.rtp import TRANSPORT_SEQUENCE_OFFSET
from mosaic.rtc import fastpath
from mosaic.rtc.aiortc_bridge import srtp_context
from mosaic.rtc.srtp_out import SrtpSender
from tests.helpers.sfu import FakeTransport, Uplink

pytestmark = pytest.mark.skipif(
    fastpath._fastpath is None, reason="mosaic.rtc._fastpath is not built (no C compiler?)"
)


@pytest.fixture(autouse=True)
def _both_paths_on_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests choose the path themselves, also in a run under MOSAIC_PURE_PYTHON=1."""
    monkeypatch.delenv(fastpath.PURE_ENV, raising=False)


PROFILES = {
    pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM: bytes(range(44)),
    pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80: bytes(range(30)),
}
VP8 = PublishedSection("1", "video", "vp8", 96, 90000, 97, [])


def _session(profile: int, ssrc_type: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(
        pylibsrtp.Policy(key=PROFILES[profile], ssrc_type=ssrc_type, srtp_profile=profile)
    )


class WireTransport(FakeTransport):
    """`MediaTransport`'s send path on a real UDP socket of asyncio's loop: SRTP through
    `srtp_out`, asyncio's ``sendto``; through the compiled forwarder when ``compiled``."""

    def __init__(
        self,
        endpoint: asyncio.DatagramTransport,
        remote: tuple[str, int],
        profile: int,
        *,
        compiled: bool,
    ) -> None:
        super().__init__()
        self.endpoint, self.remote = endpoint, remote
        self.session = _session(profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        self.sender = SrtpSender(self.session, srtp_context(self.session))
        self.forwarder = fastpath.new_forwarder() if compiled else None
        self._deliver: Callable[[Any], object] | None = None

    def connect(self) -> None:
        sendto, remote = self.endpoint.sendto, self.remote
        self._deliver = lambda datagram: sendto(datagram, remote)
        if self.forwarder is not None:
            context = srtp_context(self.session)
            assert fastpath.arm(self.forwarder, self.session, context, self.endpoint, remote)
            self._deliver = self.forwarder.deliver
        super().connect()

    def send_rtp(self, packet: bytes | bytearray) -> None:
        if self._deliver is not None:
            self._deliver(self.sender.protect(packet))

    def send_rtcp(self, packet: bytes) -> None:
        if self._deliver is not None:
            self._deliver(self.sender.protect_rtcp(packet))


class Errors(asyncio.DatagramProtocol):
    """What asyncio reports to the protocol of the sending socket."""

    def __init__(self) -> None:
        self.errors: list[int] = []

    def error_received(self, exc: Exception) -> None:
        self.errors.append(getattr(exc, "errno", 0))


async def _endpoint() -> tuple[asyncio.DatagramTransport, Errors]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Errors, local_addr=("127.0.0.1", 0))
    return transport, protocol


def _receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))  # broadcasts to 127.255.255.255 too
    sock.setblocking(False)
    return sock


def _drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(2048))
        except BlockingIOError:
            return out


def _vp8(
    sequence_number: int, size: int, keyframe: bool, picture_id: int = -1, tl0: bool = True
) -> bytes:
    head = b"\x10\x00\x00\x9d\x01\x2a\x00\x05\xd0\x02" if keyframe else b"\x10\x01"
    if picture_id >= 0 and not tl0:  # RFC 7741 §4.2: X, then I: a 15-bit PictureID
        head = b"\x90\x80" + struct.pack("!H", 0x8000 | picture_id) + head[1:]
    elif picture_id >= 0:  # X, then I and L: a 15-bit PictureID and TL0PICIDX
        head = b"\x90\xc0" + struct.pack("!HB", 0x8000 | picture_id, picture_id & 0xFF) + head[1:]
    payload = head + bytes((sequence_number + i) & 0xFF for i in range(size))
    marker = 0x80 if sequence_number % 5 == 0 else 0
    first = struct.pack("!BBHII", 0x80, marker | 96, sequence_number, sequence_number * 3000, 1234)
    return first + payload


def _descriptor_ids(packet: bytes, rtx: bool = False) -> tuple[int, int]:
    """The (PictureID with its M bit, TL0PICIDX) of a plain RTP packet made by `_vp8`."""
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    if rtx:
        offset += 2  # the original sequence number (RFC 4588 §4)
    assert packet[offset] & 0x80 and packet[offset + 1] == 0xC0
    picture_id, tl0 = struct.unpack_from("!HB", packet, offset + 2)
    return picture_id, tl0


async def _forward(
    profile: int, compiled: bool, tl0: bool = True
) -> tuple[list[bytes], SubscribePeer, int]:
    """A publisher's packets through an up stream and one subscribe connection's slot, on
    either path: what arrived at the receiver's socket (VP8 with a PictureID, and a
    TL0PICIDX when ``tl0``)."""
    receiver = _receiver()
    endpoint, _ = await _endpoint()
    transport = WireTransport(
        endpoint, ("127.0.0.1", receiver.getsockname()[1]), profile, compiled=compiled
    )

    async def send_offer(sdp: str) -> None:
        pass

    random.seed(3)  # the slot's SSRCs
    peer = SubscribePeer("viewer", transport, send_offer, clock=lambda: 10.0)
    down = peer.add_slot("video")
    down.rewriter = SequenceRewriter(65530, 4_294_967_000)  # both numbers wrap on the way
    down.numbered = True
    # The slot calls the compiled path itself (else only RTCP would take it).
    assert (down._forward is None) == (not compiled)
    transport.connect()
    track = UpTrack("p1", Source.CAMERA, VP8, Uplink())
    stream, other = track.stream(1234, "h"), track.stream(4321, "q")
    down.assign(track)
    down.start(stream, 0.0)
    for number in range(100, 140):
        if number == 130:
            down.numbered = False  # a receiver that dropped transport-wide feedback
        if number == 120:  # a switch: the other layer numbers its pictures its own way
            stream, picture_base = other, 32700
            down.start(stream, 1.0 + number / 100)
        elif number == 100:
            picture_base = 7000
        data = _vp8(
            number,
            200 + 23 * number % 900,
            keyframe=number in (100, 120),
            picture_id=(picture_base + number // 5) & 0x7FFF,
            tl0=tl0,
        )
        header = track.parse(data)
        assert header is not None
        stream.receive(data, header, 1.0 + number / 100)
    # A NACK answered with RTX (protected in Python, sent through `deliver`), and an RTCP
    # sender report.
    first_out = (65530 + 23) & 0xFFFF
    peer._retransmit(Nack(peer.rtcp_ssrc, down.ssrc, [first_out]), 5.0)
    peer.send_reports(5.0)
    await asyncio.sleep(0)
    arrived = _drain(receiver)
    endpoint.close()
    receiver.close()
    if transport.forwarder is not None:
        assert transport.forwarder.sent == len(arrived) and transport.forwarder.handed_over == 0
    return arrived, peer, down.ssrc


@pytest.mark.parametrize("profile", list(PROFILES))
async def test_both_paths_put_the_same_datagrams_on_the_wire(profile: int) -> None:
    """A slot's stream (numbered, then not; marker bits, sequence numbers and timestamps
    that wrap; a switch of simulcast layer, whose VP8 PictureIDs and TL0PICIDX are
    renumbered in the shared template), a retransmission and a sender report: byte for
    byte the same datagrams from the compiled path as from the pure one, that pylibsrtp
    decrypts, numbered consecutively, with the same send history."""
    pure, pure_peer, ssrc = await _forward(profile, compiled=False)
    fast, fast_peer, _ = await _forward(profile, compiled=True)
    assert len(pure) == 40 + 1 + 1
    assert fast[:-1] == pure[:-1]  # the sender reports differ by their wall-clock time
    receiver = _session(profile, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    media = [receiver.unprotect(datagram) for datagram in fast[:40]]
    assert [struct.unpack_from("!H", p, 2)[0] for p in media[:8]] == [
        65530, 65531, 65532, 65533, 65534, 65535, 0, 1
    ]  # fmt: skip
    assert {struct.unpack_from("!I", p, 8)[0] for p in media} == {ssrc}
    numbers = [struct.unpack_from("!H", p, TRANSPORT_SEQUENCE_OFFSET)[0] for p in media[:30]]
    assert numbers == list(range(30))
    assert {p[1] >> 7 for p in media} == {0, 1}
    # One picture numbering across the switch (5 packets a picture): PictureID (15 bits, M
    # set) and TL0PICIDX each go up by one per picture, continuing from the first layer's.
    pictures = [_descriptor_ids(p) for p in media]
    assert pictures[0] == (0x8000 | 7020, 7020 & 0xFF)
    assert pictures[-1] == (0x8000 | 7027, 7027 & 0xFF)
    assert [pictures[i + 1][0] - pictures[i][0] for i in range(39)] == [
        1 if (101 + i) % 5 == 0 else 0 for i in range(39)
    ]
    assert [(pictures[i + 1][1] - pictures[i][1]) & 0xFF for i in range(39)] == [
        1 if (101 + i) % 5 == 0 else 0 for i in range(39)
    ]
    # The retransmission (of the other layer's packet 123) carries the IDs it was sent with.
    assert _descriptor_ids(receiver.unprotect(fast[40]), rtx=True) == pictures[23]
    assert fast_peer.history.next == pure_peer.history.next == 30
    for name in ("_times", "_sizes"):  # when each left, how big: the same history
        assert getattr(fast_peer.history, name) == getattr(pure_peer.history, name)
    receiver.unprotect_rtcp(fast[-1])


@pytest.mark.parametrize("tl0", [True, False])
@pytest.mark.parametrize("profile", list(PROFILES))
async def test_the_fanout_writes_the_common_case_itself(
    profile: int, tl0: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fastpath.fanout` leaves to a down track's Python `write` only what is not the common
    case: the first packet (a segment starts) and the switch (another segment, and the first
    VP8 IDs since, which set the renumbering's offsets). The rest, renumbered packets
    included, the C writes itself, the same bytes as the Python (a stream without TL0PICIDX,
    as aiortc's and Firefox's, too: its numbering stays "pending" for that field)."""
    pure, _, _ = await _forward(profile, compiled=False, tl0=tl0)
    written: list[int] = []
    python_write = DownTrack.write

    def counted(self: DownTrack, template: bytearray, header: Any, now: float) -> None:
        written.append(header.sequence_number)
        python_write(self, template, header, now)

    monkeypatch.setattr(DownTrack, "write", counted)
    arrived, _, _ = await _forward(profile, compiled=True, tl0=tl0)
    assert len(arrived) == 40 + 1 + 1
    assert arrived[:-1] == pure[:-1]  # the sender reports differ by their wall-clock time
    assert written == [100, 120]


def test_the_fanout_writes_any_other_sink_in_order_and_raises_what_it_raises() -> None:
    """Sinks that are not down tracks get their own `write`, one after the other, as the
    Python loop does; an exception stops the loop where it would have stopped."""
    fanout = fastpath.fanout()
    assert fanout is not None
    calls: list[str] = []

    class Sink:
        def __init__(self, name: str) -> None:
            self.name = name

        def write(self, template: bytearray, header: object, now: float) -> None:
            calls.append(self.name)
            if self.name == "faulty":
                raise ValueError(self.name)

    fanout([Sink("a"), Sink("b")], bytearray(20), object(), 1.0)
    assert calls == ["a", "b"]
    with pytest.raises(ValueError, match="faulty"):
        fanout([Sink("c"), Sink("faulty"), Sink("d")], bytearray(20), object(), 1.0)
    assert calls == ["a", "b", "c", "faulty"]


async def test_a_datagram_the_kernel_refuses_is_asyncios_to_handle_as_before() -> None:
    """The kernel refuses (here EACCES: a broadcast without SO_BROADCAST; EAGAIN on a full
    socket buffer takes the same way): the compiled path hands the datagram to asyncio's
    transport, which tries again and reports the error to the protocol, once per datagram,
    exactly as on the pure path. Nothing is dropped silently."""
    profile = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    reports = {}
    for compiled in (False, True):
        endpoint, protocol = await _endpoint()
        remote = ("127.255.255.255", 9)
        transport = WireTransport(endpoint, remote, profile, compiled=compiled)
        transport.connect()
        forwarder = transport.forwarder
        for number in range(1, 6):
            template = bytearray(_vp8(number, 500, keyframe=False))
            if forwarder is None:
                transport.send_rtp(template)
            else:  # the fields as they are: one call stamps, protects and sends
                fields = struct.unpack_from("!BHII", template, 1)
                assert forwarder.send(template, *fields, 0.0, False)
        if transport.forwarder is not None:
            assert transport.forwarder.handed_over == 5 and transport.forwarder.sent == 0
        reports[compiled] = protocol.errors
        endpoint.close()
    assert reports[True] == reports[False] == [errno.EACCES] * 5


async def test_nothing_overtakes_a_datagram_asyncio_holds() -> None:
    """After a refusal, while asyncio's transport still holds datagrams, the compiled path
    gives it every datagram (in order) instead of sending directly; once its queue is
    empty, it sends directly again. The kernel's refusal is real (a broadcast without
    SO_BROADCAST, then allowed); asyncio's queue is stood in for by a list, since loopback
    never fills a UDP socket's buffer."""
    receiver = _receiver()
    endpoint, _ = await _endpoint()
    sock = endpoint.get_extra_info("socket")
    remote = ("127.255.255.255", receiver.getsockname()[1])
    queue: list[bytes] = []
    session = _session(
        pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, pylibsrtp.Policy.SSRC_ANY_OUTBOUND
    )
    forwarder = fastpath.new_forwarder()
    assert forwarder is not None
    forwarder.arm(
        fd=sock.fileno(),
        remote=remote,
        context=int(fastpath.ffi.cast("uintptr_t", srtp_context(session))),
        protect=int(fastpath.ffi.cast("uintptr_t", fastpath.lib.srtp_protect)),
        keep=session,
        error=pylibsrtp.Error,
        sendto=lambda datagram, address: queue.append(bytes(datagram)),
        pending=lambda: sum(map(len, queue)),
    )
    template = bytearray(_vp8(1, 300, keyframe=False))

    def send(number: int) -> None:
        assert forwarder.send(template, 96, number, 0, 0x55, 1.0, False)

    send(1)  # refused: handed over
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    send(2)  # the kernel would take it now, but #1 is still queued: queued behind it
    send(3)
    assert len(queue) == 3 and _drain(receiver) == []
    for datagram in queue:  # asyncio's writer, once the socket takes them again
        endpoint.sendto(datagram, remote)
    queue.clear()
    send(4)  # the queue is empty: directly
    assert forwarder.sent == 1 and forwarder.handed_over == 3
    arrived = _drain(receiver)
    receiver_session = _session(
        pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM, pylibsrtp.Policy.SSRC_ANY_INBOUND
    )
    numbers = [struct.unpack_from("!H", receiver_session.unprotect(d), 2)[0] for d in arrived]
    assert numbers == [1, 2, 3, 4]
    forwarder.disarm()
    assert not forwarder.send(template, 96, 5, 0, 0x55, 1.0, False)  # the pure path's turn
    endpoint.close()
    receiver.close()


def test_the_pure_path_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """MOSAIC_PURE_PYTHON=1: no forwarder, every packet through the pure-Python path (how
    the media tests run that path with the extension built)."""
    assert fastpath.new_forwarder() is not None
    monkeypatch.setenv(fastpath.PURE_ENV, "1")
    assert fastpath.new_forwarder() is None


def test_a_libsrtp_error_raises_as_pylibsrtps_does() -> None:
    """A packet libsrtp refuses raises pylibsrtp.Error, as `SrtpSender.protect` does; one
    too long for the buffer raises ValueError, as it does."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    profile = pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM
    session = _session(profile, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    forwarder = fastpath.new_forwarder()
    assert forwarder is not None
    forwarder.arm(
        fd=sock.fileno(),
        remote=sock.getsockname(),
        context=int(fastpath.ffi.cast("uintptr_t", srtp_context(session))),
        protect=int(fastpath.ffi.cast("uintptr_t", fastpath.lib.srtp_protect)),
        keep=session,
        error=pylibsrtp.Error,
        sendto=lambda datagram, address: None,
        pending=lambda: 0,
    )
    with pytest.raises(ValueError):
        forwarder.send(bytearray(1500), 96, 1, 0, 1, 0.0, False)
    # An extension header claiming more than the packet holds: libsrtp refuses it.
    bad = bytearray(b"\x90" + bytes(11) + b"\xbe\xde\xff\xff" + bytes(10))
    with pytest.raises(pylibsrtp.Error):
        forwarder.send(bad, 96, 1, 0, 1, 0.0, False)
    sock.close()


@pytest.mark.parametrize("pure", [False, True])
async def test_two_bridge_transports_connect_and_forward_through_the_chosen_path(
    pure: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two real `MediaTransport`s over loopback (ICE, DTLS, SRTP): once connected, the
    compiled forwarder is armed on the nominated pair's socket and what it sends arrives
    decrypted on the other side; with MOSAIC_PURE_PYTHON=1 there is no forwarder and the
    same arrives through asyncio."""
    from mosaic.rtc import aiortc_bridge

    if pure:
        monkeypatch.setenv(fastpath.PURE_ENV, "1")
    aiortc_bridge.configure_media_network(["127.0.0.1"])
    a = aiortc_bridge.MediaTransport(aiortc_bridge.new_certificate())
    b = aiortc_bridge.MediaTransport(aiortc_bridge.new_certificate())
    try:
        received: list[bytes] = []
        b.on_rtp = received.append
        for side in (a, b):
            await side.gather()
        for side, other, controlling in ((a, b, True), (b, a, False)):
            for line in other.local_candidates():
                await side.add_remote_candidate(line)
            await side.add_remote_candidate(None)
            side.start(
                remote_ufrag=other.ice_username_fragment,
                remote_pwd=other.ice_password,
                remote_fingerprints=other.fingerprints(),
                ice_controlling=controlling,
                dtls_client=controlling,
            )
        for _ in range(200):
            if a.connected and b.connected:
                break
            await asyncio.sleep(0.05)
        assert a.connected and b.connected
        assert (a.forwarder is None) == pure
        template = bytearray(_vp8(7, 400, keyframe=False))
        if a.forwarder is not None:
            assert a.forwarder.armed
            fields = struct.unpack_from("!BHII", template, 1)
            assert a.forwarder.send(template, *fields, 0.0, False)
            assert a.forwarder.sent >= 1
        else:
            a.send_rtp(template)
        for _ in range(40):
            if received:
                break
            await asyncio.sleep(0.05)
        assert received == [bytes(template)]
    finally:
        await a.close()
        await b.close()
        aiortc_bridge.configure_media_network(None)
    if a.forwarder is not None:
        assert not a.forwarder.armed  # closed: the duplicate descriptor is closed too
