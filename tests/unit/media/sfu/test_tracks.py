"""Up and down tracks: a slot remembers its former sources only weakly."""

from __future__ import annotations

import gc
import struct
import weakref

from mosaic.domain.roster import Source
from mosaic.media.sfu.tracks import DownTrack, UpTrack
from mosaic.media.transport.negotiation import PublishedSection
from mosaic.media.wire.rtp import ExtensionIds, MalformedPacket, RtpHeader, parse_rtp

VP8 = PublishedSection("0", "video", "vp8", 96, 90000, 97, [])


class Publisher:
    """The publisher's side of an up track: a parser and the feedback it would send."""

    def __init__(self) -> None:
        self.keyframe_requests: list[int] = []

    def request_keyframe(self, ssrc: int) -> None:
        self.keyframe_requests.append(ssrc)

    def send_nack(self, ssrc: int, lost: list[int]) -> None:
        pass

    def parse(self, data: bytes) -> RtpHeader | None:
        try:
            return parse_rtp(data, ExtensionIds())
        except MalformedPacket:
            return None


class Subscriber:
    """The subscriber's side of a down track: what it was sent."""

    connected = True
    started = True

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send_rtp(self, packet: bytes) -> None:
        self.sent.append(packet)

    def awaits_media(self, now: float) -> bool:
        return True


def packet(sequence_number: int, payload: bytes = b"\x10\x02\x00\x9d\x01\x2a") -> bytes:
    return struct.pack("!BBHII", 0x80, 96, sequence_number, sequence_number * 3000, 1234) + payload


def test_a_departed_publishers_stream_is_freed_though_a_slot_showed_it() -> None:
    """The rewriter keeps the numbering of former segments (to map NACKs) but not the
    streams: once the publisher is gone, its stream and packet cache are freed by reference
    counting, and a NACK into that segment finds nothing instead of keeping it alive."""
    connection = Subscriber()
    down = DownTrack(connection, "video", "0", 5678, 5679, 96, 97)
    publisher = Publisher()
    track = UpTrack("p1", Source.CAMERA, VP8, publisher, lambda track, level, now: None)
    stream = track.stream(1234, None)
    down.assign(track)
    down.attach(stream, 0.0)
    parse = publisher.parse
    for number in range(100, 110):
        data = packet(number)
        header = parse(data)
        assert header is not None
        stream.receive(data, header, number / 30)
    assert len(connection.sent) == 10
    first_out = struct.unpack_from("!H", connection.sent[0], 2)[0]
    assert down.retransmission(first_out, 4.0) is not None  # repaired from the cache

    gone = weakref.ref(stream)
    cache = weakref.ref(stream.cache)
    gc.disable()
    try:
        track.close()
        down.assign(None)
        del track, stream
        assert gone() is None and cache() is None
    finally:
        gc.enable()
    assert down.retransmission(first_out, 4.0) is None
    assert down.rewriter.original(first_out) == 100  # the numbering is still known
