"""Keyframe requests to a publisher: rate-limited, and repeated until a keyframe comes."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.up import (
    KEYFRAME_WANTED_S,
    LAYER_BACK_AFTER,
    LAYER_GONE_AFTER,
    UpStream,
    UpTrack,
)
from mosaic.media.sfu.uplink_limit import SETTLE_S, UplinkLimit
from mosaic.media.wire.rtp import ExtensionIds, RtpHeader, build_rtp, parse_rtp
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import Sink, Uplink

SSRC = 1111


def camera() -> tuple[UpTrack, UpStream, Uplink]:
    publisher = Uplink()
    section = PublishedSection("0", "video", "VP8", 96, 90000, None, [])
    track = UpTrack("ann", Source.CAMERA, section, publisher)
    return track, track.stream(SSRC, None), publisher


def packet(sequence_number: int, payload: bytes) -> tuple[bytes, RtpHeader]:
    data = build_rtp(
        payload_type=96, sequence_number=sequence_number, timestamp=0, ssrc=SSRC, payload=payload
    )
    return data, parse_rtp(data, ExtensionIds())


def tick_until(track: UpTrack, start: float, end: float) -> None:
    now = start
    while now < end:
        track.tick(now)
        now += 0.05


def test_a_subscribers_request_is_repeated_until_a_keyframe_comes() -> None:
    track, stream, publisher = camera()
    stream.request_keyframe(0.0)  # a subscriber's PLI: ours, or the keyframe, may be lost
    tick_until(track, 0.05, 1.0)
    assert len(publisher.keyframe_requests) == 3  # at 0, then every ~0.4 s
    stream.receive(*packet(1, bytes([0x10]) + vp8_keyframe_header(640, 360)), now=1.0)
    tick_until(track, 1.0, 3.0)
    assert len(publisher.keyframe_requests) == 3  # the keyframe came: no more requests


def test_a_keyframe_that_never_comes_is_asked_for_only_so_long() -> None:
    track, stream, publisher = camera()
    stream.request_keyframe(0.0)
    stream.receive(*packet(1, bytes([0x10, 0x01])), now=0.1)  # interframes only
    tick_until(track, 0.05, 10.0)
    assert len(publisher.keyframe_requests) <= KEYFRAME_WANTED_S / 0.4 + 2


def test_requests_in_a_burst_reach_the_publisher_once() -> None:
    _, stream, publisher = camera()
    for now in (0.0, 0.05, 0.1):
        stream.request_keyframe(now)
    assert publisher.keyframe_requests == [SSRC]


def test_an_up_stream_needs_nothing_of_its_receivers_but_the_seam() -> None:
    """Receivers that are not down tracks (a relay's sending end would be one): each starts
    at a keyframe once it is ready, padding is skipped for them, and they are let go when
    the source ends, all through `seam.Sink`."""
    track, stream, _ = camera()
    ready, connecting = Sink(), Sink(ready=False)
    for sink in (ready, connecting):
        stream.wait_keyframe(sink)
    stream.receive(*packet(1, bytes([0x10, 0x01])), now=0.0)  # an interframe: nobody starts
    assert ready.started == [] and ready.written == []
    stream.receive(*packet(2, bytes([0x10]) + vp8_keyframe_header(640, 360)), now=0.1)
    assert ready.started == [stream] and ready.written == [2]
    assert connecting.started == [] and stream.pending == [connecting]
    assert stream.waiting(0.2)  # still owed to the one connecting
    connecting.coming_up = False
    assert not stream.waiting(0.2)  # its connection never came up: no more requests for it
    stream.receive(*packet(3, b""), now=0.2)  # padding only
    assert ready.skipped == [3] and ready.written == [2]
    track.close()
    assert ready.detached and connecting.detached
    assert stream.downs == [] and stream.pending == []


def test_just_after_an_uplink_cut_viewers_wait_for_the_lowest_layer_even_while_silent() -> None:
    """Chromium answers a deep REMB cut by sending no video for a moment, then restarts its
    quarter layer first (with a keyframe) and the middle one a second or more later: during
    that time only the quarter layer is offered, even while it is the one still silent and
    the others still arrive (what was queued before the cut). Before, viewers were moved to
    the middle layer and froze a second longer waiting for its keyframe."""
    publisher = Uplink()
    section = PublishedSection("0", "video", "VP8", 96, 90000, None, ["q", "h", "f"])
    track = UpTrack("ann", Source.CAMERA, section, publisher)
    streams = [track.stream(ssrc, rid) for ssrc, rid in ((1, "q"), (2, "h"), (3, "f"))]
    track.limit = UplinkLimit(150_000)
    now = 10.0
    for stream in streams:
        stream.last_packet = now
    streams[0].last_packet = now - 0.6  # the quarter layer paused by the browser
    assert [s.rid for s, _ in track.layers(now)] == ["h", "f"]
    # 2 Mbit/s sent, 40 % lost over the last half second: the limit is cut.
    cut = False
    for step, lost in enumerate((0, 0, 100, 200)):
        cut = cut or track.limit.sample(250 * step, 250 * step - lost, 0, now - 0.75 + 0.25 * step)
    assert cut and track.limit.settling(now)
    assert [s.rid for s, _ in track.layers(now)] == ["q"]
    # Once the browser has answered, the layers flowing under the limit count again.
    later = now + SETTLE_S + 0.01
    for stream in streams:
        stream.last_packet = later
        stream.resumed_at = later - LAYER_BACK_AFTER
    assert track.limit.holding and len(track.layers(later)) > 1
    # While the browser pauses every layer, those it stopped still count as heard for a
    # while, their rates decaying under the limit: only the lowest is offered (a viewer sent
    # back to the full layer at the end of the settling froze there).
    stopped = later + LAYER_GONE_AFTER + 0.1
    assert all(s.live(stopped) for s in streams) and track.limit.holding
    assert [s.rid for s, _ in track.layers(stopped)] == ["q"]


def test_numbers_a_browser_skipped_while_a_layer_was_stopped_are_not_loss() -> None:
    """Chromium drops what its pacer held for a simulcast layer it stops, numbers already
    given: when the layer comes back, its numbers jump. Counted as lost, that gap read as
    50 % loss and cut the uplink limit again as soon as the middle layer returned. A gap
    while the layer flows is loss, as ever."""
    track, stream, _ = camera()
    lowest = track.stream(SSRC + 1, "q")
    delta = bytes([0x10, 0x11]) + bytes(30)
    now = 10.0
    for number in range(1, 21):
        stream.receive(*packet(number, delta), now)
        now += 0.04
    stream.receive(*packet(23, delta), now)  # two lost while it flows
    assert stream.stats.expected - stream.stats.received == 2
    now += LAYER_GONE_AFTER + 0.5  # stopped by the browser while the lowest layer flows...
    lowest.receive(*packet(500, delta), now - 0.1)
    stream.receive(*packet(60, delta), now)  # ... and back, 36 numbers on
    assert stream.stats.expected - stream.stats.received == 2
    assert stream.resumed_at == now


def test_a_gap_while_no_layer_of_the_track_flows_is_loss() -> None:
    """An uplink so squeezed that a whole track falls silent for a while: what it lost then
    is loss (counted as skipped, a starved publisher's silences between half a second and a
    second read as a clean uplink, and nobody was told it was unstable)."""
    track, stream, _ = camera()
    track.stream(SSRC + 1, "q")  # a lowest layer that says nothing either
    delta = bytes([0x10, 0x11]) + bytes(30)
    now = 10.0
    for number in range(1, 21):
        stream.receive(*packet(number, delta), now)
        now += 0.04
    now += LAYER_GONE_AFTER + 0.2
    stream.receive(*packet(40, delta), now)
    assert stream.stats.expected - stream.stats.received == 19
