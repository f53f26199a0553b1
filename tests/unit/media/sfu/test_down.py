"""Down tracks: a slot remembers its former sources only weakly, and answers NACKs from
its feed's cache."""

from __future__ import annotations

import gc
import struct
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _picture(number: int, picture_id: int, tl0: int, ssrc: int, wide: bool = True) -> bytes:
    """A VP8 packet whose descriptor (RFC 7741 §4.2) has X, I (15- or 7-bit) and L; S on
    the first of each picture's two packets."""
    start = 0x90 if number % 2 == 0 else 0x80
    ids = struct.pack("!H", 0x8000 | picture_id) if wide else bytes([picture_id & 0x7F])
    payload = bytes([start, 0xC0]) + ids + bytes([tl0]) + b"\x00\x9d\x01\x2a"
    return struct.pack("!BBHII", 0x80, 96, number, number * 1500, ssrc) + payload


def _payload_at(packet: bytes) -> int:
    """Where an outgoing packet's payload begins (after its CSRCs and header extensions)."""
    offset = 12 + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        offset += 4 + 4 * struct.unpack_from("!H", packet, offset + 2)[0]
    return offset


def _ids(packet: bytes, rtx: bool = False) -> tuple[int, int]:
    """(PictureID, TL0PICIDX) of a packet a `_picture` became."""
    offset = _payload_at(packet) + (2 if rtx else 0)  # RTX: the original number first
    if packet[offset + 2] & 0x80:
        picture_id, tl0 = struct.unpack_from("!HB", packet, offset + 2)
        return picture_id & 0x7FFF, tl0
    return packet[offset + 2], packet[offset + 3]


def _layers() -> tuple[DownTrack, DownTrack, Downlink, Downlink, UpTrack]:
    track = UpTrack("p1", Source.CAMERA, VP8, Uplink())
    track.stream(1111, "q")
    track.stream(3333, "f")
    viewer, steady = Downlink(), Downlink()
    switching = DownTrack(viewer, "video", "0", 5678, 5679, 96, 97)
    staying = DownTrack(steady, "video", "0", 6789, 6790, 96, 97)
    for down in (switching, staying):
        down.assign(track)
    return switching, staying, viewer, steady, track


def test_picture_ids_stay_one_sequence_across_layer_switches() -> None:
    """low -> high -> low: each layer numbers its pictures (PictureID, TL0PICIDX) its own
    way, the high one about to wrap; the switching viewer still sees both go up by one per
    picture, mod 2^15 and 2^8. A viewer that stays on the high layer, fed the same template
    right after it, sees the publisher's own IDs: the renumbering does not leak."""
    switching, staying, viewer, steady, track = _layers()
    low, high = track.streams
    numbers = {low: 1000, high: 5000}
    pictures = {low: 100, high: 32760}  # the high layer's PictureIDs wrap during the test
    tl0s = {low: 7, high: 250}
    now = 0.0
    for stream in (low, high, low):
        switching.start(stream, now)
        if stream is high and staying.source is None:
            staying.start(high, now)  # after the switching one: fed the template it wrote
        for _ in range(6):  # three pictures of two packets each, on both layers
            for each in (low, high):
                data = _picture(numbers[each], pictures[each], tl0s[each], each.ssrc)
                each.receive(data, track.parse(data), now)  # type: ignore[arg-type]
                if numbers[each] % 2:
                    pictures[each] = (pictures[each] + 1) & 0x7FFF
                    tl0s[each] = (tl0s[each] + 1) & 0xFF
                numbers[each] += 1
            now += 0.02
    sent = [_ids(packet) for packet in viewer.sent]
    assert len(sent) == 18
    assert sent[0] == (100, 7)  # the first segment keeps the publisher's numbering
    for before, after, index in zip(sent, sent[1:], range(1, 18), strict=False):
        step = 1 if index % 2 == 0 else 0  # a new picture every second packet
        assert after == ((before[0] + step) & 0x7FFF, (before[1] + step) & 0xFF), index
    assert [_ids(packet) for packet in steady.sent] == [
        ((32763 + i // 2) & 0x7FFF, (253 + i // 2) & 0xFF) for i in range(12)
    ]


def test_a_retransmission_carries_the_ids_its_packet_was_sent_with() -> None:
    """A NACK answered after a switch: the RTX packet's descriptor holds the renumbered
    PictureID and TL0PICIDX of the original send, not the layer's own."""
    switching, _, viewer, _, track = _layers()
    low, high = track.streams
    switching.start(low, 0.0)
    for number in range(10, 14):
        data = _picture(number, 40 + number // 2, 3, low.ssrc)
        low.receive(data, track.parse(data), number / 100)  # type: ignore[arg-type]
    switching.start(high, 0.5)
    for number in range(500, 506):
        data = _picture(number, 9000 + number // 2, 99, high.ssrc)
        high.receive(data, track.parse(data), 0.5 + number / 1000)  # type: ignore[arg-type]
    for original in viewer.sent[4:]:
        out = struct.unpack_from("!H", original, 2)[0]
        rtx = switching.retransmission(out, 1.0)
        assert rtx is not None
        assert _ids(rtx, rtx=True) == _ids(original) != (9000 + 250, 99)
        assert rtx[_payload_at(rtx) + 2 :] == original[_payload_at(original) :]


def test_seven_bit_picture_ids_continue_in_their_low_bits() -> None:
    """A layer with 7-bit PictureIDs keeps its width (renumbered in place, as mediasoup
    does): after a 15-bit layer, its IDs are the low 7 bits of the one sequence, and the
    15-bit layer after it continues that sequence past the 7-bit wrap."""
    switching, _, viewer, _, track = _layers()
    low, high = track.streams
    switching.start(high, 0.0)
    for number in range(0, 4):  # pictures 1000, 1001 (15 bits)
        data = _picture(number, 1000 + number // 2, 1, high.ssrc)
        high.receive(data, track.parse(data), 0.0)  # type: ignore[arg-type]
    switching.start(low, 0.1)
    for number in range(200, 240):  # 7-bit pictures 120..127, 0..11: wrapping
        data = _picture(number, (120 + (number - 200) // 2) & 0x7F, 5, low.ssrc, wide=False)
        low.receive(data, track.parse(data), 0.1 + number / 1000)  # type: ignore[arg-type]
    switching.start(high, 0.5)
    data = _picture(4, 1002, 2, high.ssrc)
    high.receive(data, track.parse(data), 0.6)  # type: ignore[arg-type]
    sent = [_ids(packet)[0] for packet in viewer.sent]
    assert {len(packet) - _payload_at(packet) for packet in viewer.sent[4:44]} == {8}  # 7 bits
    assert sent[4:44:2] == [(1002 + i) & 0x7F for i in range(20)]
    assert sent[-1] == 1002 + 20  # and on, in 15 bits


@pytest.mark.parametrize(
    "payload",
    [
        b"\x10\x02\x00\x9d\x01\x2a",  # no X: no extension byte at all
        b"\x90\x20\x40\x00\x9d\x01\x2a",  # X with only T (TID byte), no PictureID
        b"\x90\x10\x40\x00\x9d\x01\x2a",  # X with only K
    ],
)
def test_packets_without_a_picture_id_pass_untouched(payload: bytes) -> None:
    """Across a switch, a descriptor without PictureID or TL0PICIDX is forwarded as it
    came: nothing is written into it."""
    switching, _, viewer, _, track = _layers()
    low, high = track.streams
    for stream, base in ((low, 10), (high, 700)):
        switching.start(stream, base / 1000)
        for number in range(base, base + 3):
            data = struct.pack("!BBHII", 0x80, 96, number, number, stream.ssrc) + payload
            stream.receive(data, track.parse(data), base / 1000)  # type: ignore[arg-type]
    assert len(viewer.sent) == 6
    assert {packet[_payload_at(packet) :] for packet in viewer.sent} == {payload}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=12), st.integers(0, 5))
def test_malformed_descriptors_neither_crash_nor_change_size(
    payloads: list[bytes], switch_at: int
) -> None:
    """Arbitrary (truncated, contradictory) VP8 descriptors through a switching slot: every
    packet goes out, its length unchanged, and only bytes inside its payload may differ."""
    switching, _, viewer, _, track = _layers()
    low, high = track.streams
    switching.start(low, 0.0)
    for index, payload in enumerate(payloads):
        if index == switch_at:
            switching.start(high, 0.0)
        stream = high if index >= switch_at else low
        data = struct.pack("!BBHII", 0x80, 96, 100 + index, index, stream.ssrc) + payload
        header = track.parse(data)
        assert header is not None
        stream.receive(data, header, index / 100)
    sent = viewer.sent
    kept = [p for p in payloads if p]  # an empty payload is padding: not forwarded
    assert [len(packet) - _payload_at(packet) for packet in sent] == [len(p) for p in kept]
    for packet, payload in zip(sent, kept, strict=True):
        start = _payload_at(packet)
        assert packet[start : start + 2] == payload[:2]  # the flags are never written
