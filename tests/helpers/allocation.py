"""Tracks and subscribers for the allocation tests: a camera sending Chromium's three
layers, a subscriber without sockets, and which layer each of its slots forwards."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.wire.rtp import ExtensionIds, build_rtp, parse_rtp
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import FakeTransport, Uplink

NOW = 1000.0
MIC = PublishedSection("0", "audio", "opus", 111, 48000, None, [])
CAMERA = PublishedSection("1", "video", "vp8", 96, 90000, 97, ["q", "h", "f"])
# Layer sizes and rates as Chromium sends them for a 1280x720 camera.
LAYERS = {"q": (320, 180, 150_000), "h": (640, 360, 500_000), "f": (1280, 720, 1_500_000)}


def camera(pid: str = "ann", source: Source = Source.CAMERA) -> UpTrack:
    """A camera sending three layers at Chromium's sizes and rates, keyframes seen."""
    track = UpTrack(pid, source, CAMERA, Uplink())
    for index, (rid, (width, height, bitrate)) in enumerate(LAYERS.items()):
        stream = track.stream(0x100 + index, rid)
        data = build_rtp(
            payload_type=96,
            sequence_number=1,
            timestamp=0,
            ssrc=stream.ssrc,
            payload=bytes([0x10]) + vp8_keyframe_header(width, height),
        )
        stream.receive(data, parse_rtp(data, ExtensionIds()), NOW - 1.0)
        stream.meter.add(int(bitrate / 8), NOW - 0.5)  # one second's worth, half a second ago
        stream.last_packet = NOW
    return track


async def _no_offer(sdp: str) -> None:
    raise AssertionError("no offer expected")


def subscriber() -> SubscribePeer:
    return SubscribePeer("sam", FakeTransport(), _no_offer)


def chosen(peer: SubscribePeer) -> dict[str, str]:
    """The rid each video slot is switched to ("paused" when it forwards nothing)."""
    result = {}
    for down in peer.slots_of("video"):
        stream = down.target or down.source
        assert down.track is not None
        result[down.track.participant_id] = (
            stream.rid or "" if isinstance(stream, UpStream) else "paused"
        )
    return result
