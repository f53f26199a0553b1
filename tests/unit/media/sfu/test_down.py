"""Down tracks: a slot remembers its former sources only weakly, and answers NACKs from
its feed's cache."""

from __future__ import annotations

import gc
import struct
import weakref

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.up import UpTrack
from tests.helpers.sfu import Downlink, Feed, Uplink

VP8 = PublishedSection("0", "video", "vp8", 96, 90000, 97, [])


def packet(sequence_number: int, payload: bytes = b"\x10\x02\x00\x9d\x01\x2a") -> bytes:
    return struct.pack("!BBHII", 0x80, 96, sequence_number, sequence_number * 3000, 1234) + payload


def test_a_departed_publishers_stream_is_freed_though_a_slot_showed_it() -> None:
    """The rewriter keeps the numbering of former segments (to map NACKs) but not the
    streams: once the publisher is gone, its stream and packet cache are freed by reference
    counting, and a NACK into that segment finds nothing instead of keeping it alive."""
    connection = Downlink()
    down = DownTrack(connection, "video", "0", 5678, 5679, 96, 97)
    track = UpTrack("p1", Source.CAMERA, VP8, Uplink())
    stream = track.stream(1234, None)
    down.assign(track)
    down.start(stream, 0.0)
    parse = track.parse
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


def test_a_down_track_needs_nothing_of_its_feed_but_the_seam() -> None:
    """Fed by something that is not an up stream (as a relay's far end would be): it waits
    for a keyframe, forwards, asks for keyframes and repairs losses through `seam.Feed`."""
    feed = Feed()
    link = Downlink()
    down = DownTrack(link, "video", "0", 5678, 5679, 96, 97)
    down.want(feed, 0.0)
    assert feed.waiting == [down] and feed.keyframe_requests == 1
    down.start(feed, 0.1)  # what a feed does at its keyframe
    assert feed.waiting == [] and feed.downs == [down]
    for number in range(100, 105):
        feed.send(packet(number), number / 30)
    assert len(link.sent) == 5
    out = struct.unpack_from("!H", link.sent[2], 2)[0]
    rtx = down.retransmission(out, 4.0)
    assert rtx is not None and rtx[1] & 0x7F == 97
    assert struct.unpack_from("!HH", rtx, 12) == (out, struct.unpack_from("!H", packet(102), 12)[0])
    down.request_keyframe(4.0)
    assert feed.keyframe_requests == 2
    down.detach()
    assert feed.downs == []


def test_after_a_switch_the_old_layer_s_lost_packets_are_not_resent() -> None:
    """A viewer squeezed onto the quarter layer still asks for the packets of the half
    layer that its full link dropped: they would only show pictures that the new keyframe
    replaces, so none is resent (on that link they took the repair budget that the new
    layer's lost packets needed); the new layer's are."""
    connection = Downlink()
    down = DownTrack(connection, "video", "0", 5678, 5679, 96, 97)
    track = UpTrack("p1", Source.CAMERA, VP8, Uplink())
    half, quarter = track.stream(1234, "h"), track.stream(4321, "q")
    down.assign(track)
    down.start(half, 0.0)
    for number in range(100, 105):
        data = packet(number)
        half.receive(data, track.parse(data), number / 30)  # type: ignore[arg-type]
    old = struct.unpack_from("!H", connection.sent[2], 2)[0]
    assert down.retransmission(old, 4.0) is not None  # still its layer: repaired
    down.start(quarter, 4.0)
    for number in range(300, 305):
        data = struct.pack("!BBHII", 0x80, 96, number, number * 3000, 4321) + b"\x10\x02"
        quarter.receive(data, track.parse(data), 4 + number / 1000)  # type: ignore[arg-type]
    new = struct.unpack_from("!H", connection.sent[-2], 2)[0]
    assert down.retransmission(old, 4.5) is None
    assert down.retransmission(new, 4.5) is not None
