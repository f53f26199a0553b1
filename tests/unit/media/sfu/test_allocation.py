"""What fills a subscriber's slots: which audio streams win, which simulcast layer each tile
gets within the subscriber's bandwidth."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.allocation import (
    AUDIO_CAP,
    DEFAULT_VIEW_COUNT,
    Tracks,
    ensure_slots,
    fill,
    select_streams,
    wanted_audio,
    wanted_videos,
)
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


def speakers(count: int, muted: frozenset[str] = frozenset()) -> Tracks:
    tracks: Tracks = {}
    for index in range(count):
        pid = f"p{index}"
        track = UpTrack(pid, Source.MICROPHONE, MIC, Uplink())
        track.forwarding = pid not in muted
        tracks[(pid, Source.MICROPHONE)] = track
    return tracks


def names(tracks: list[UpTrack]) -> list[str]:
    return sorted(track.participant_id for track in tracks)


def test_every_unmuted_speaker_up_to_the_cap_is_heard_but_not_oneself() -> None:
    tracks = speakers(AUDIO_CAP + 1, muted=frozenset({"p3"}))
    camera = UpTrack("p1", Source.CAMERA, CAMERA, Uplink())
    tracks[("p1", Source.CAMERA)] = camera
    chosen = wanted_audio(tracks, "p0", set(), {})
    assert names(chosen) == ["p1", "p2", "p4", "p5", "p6"]


def test_above_the_cap_the_six_most_active_speakers_win() -> None:
    tracks = speakers(9)
    levels = {f"p{index}": index / 10 for index in range(9)}  # p8 loudest, p0 quietest
    chosen = wanted_audio(tracks, "me", set(), levels)
    assert AUDIO_CAP == 6
    assert names(chosen) == ["p3", "p4", "p5", "p6", "p7", "p8"]


def test_a_speaker_keeps_its_slot_until_a_newcomer_is_clearly_more_active() -> None:
    tracks = speakers(7)
    holders = {tracks[(f"p{index}", Source.MICROPHONE)] for index in range(6)}
    levels = {f"p{index}": 0.3 for index in range(6)}
    levels["p6"] = 0.45  # louder than p0..p5, but within the swap margin
    assert "p6" not in names(wanted_audio(tracks, "me", holders, levels))
    levels["p6"] = 0.6  # clearly more active: takes the weakest holder's slot
    levels["p2"] = 0.1
    chosen = names(wanted_audio(tracks, "me", holders, levels))
    assert "p6" in chosen and "p2" not in chosen and len(chosen) == AUDIO_CAP


def test_before_a_view_the_first_cameras_and_screens_are_shown() -> None:
    tracks: Tracks = {}
    for index in range(DEFAULT_VIEW_COUNT + 2):
        tracks[(f"p{index}", Source.CAMERA)] = UpTrack(f"p{index}", Source.CAMERA, CAMERA, Uplink())
    screen = UpTrack("p0", Source.SCREEN, CAMERA, Uplink())
    tracks[("p0", Source.SCREEN)] = screen
    wanted = wanted_videos(tracks, "p1", None)
    assert len(wanted) == DEFAULT_VIEW_COUNT
    assert all(track.participant_id != "p1" for track, _, _ in wanted)
    view = [
        ("p2", Source.CAMERA, 640, 360),
        ("p0", Source.SCREEN, 1920, 1080),
        ("p1", Source.CAMERA, 1, 1),
    ]
    wanted = wanted_videos(tracks, "p1", view)
    assert [(t.participant_id, t.source, w, h) for t, w, h in wanted] == view[:2]


def camera(pid: str = "ann") -> UpTrack:
    """A camera sending three layers at Chromium's sizes and rates, keyframes seen."""
    track = UpTrack(pid, Source.CAMERA, CAMERA, Uplink())
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


def subscriber(bandwidth: float) -> SubscribePeer:
    peer = SubscribePeer("sam", FakeTransport(), _no_offer)
    peer.loss_estimate.bitrate = bandwidth
    return peer


def show(peer: SubscribePeer, tiles: list[tuple[UpTrack, int, int]]) -> dict[str, str]:
    """Give each track a video slot of that tile size; the rid each slot is switched to."""
    ensure_slots(peer, "video", len(tiles))
    fill(peer.slots_of("video"), [track for track, _, _ in tiles])
    for down, (_, width, height) in zip(peer.slots_of("video"), tiles, strict=True):
        down.want_width, down.want_height = width, height
    select_streams(peer, {}, NOW)
    chosen = {}
    for down in peer.slots_of("video"):
        stream = down.target or down.source
        assert isinstance(stream, UpStream) and down.track is not None
        chosen[down.track.participant_id] = stream.rid or ""
    return chosen


def test_each_tile_gets_the_smallest_layer_that_fills_it() -> None:
    for (width, height), rid in {
        (160, 90): "q",
        (320, 180): "q",
        (400, 225): "q",  # 25% upscaling still looks fine
        (480, 270): "h",
        (640, 360): "h",
        (1280, 720): "f",
        (1920, 1080): "f",
    }.items():
        assert show(subscriber(8_000_000), [(camera(), width, height)]) == {"ann": rid}


def test_bandwidth_goes_to_the_biggest_tile_first() -> None:
    tiles = [(camera("small"), 320, 180), (camera("big"), 1280, 720)]
    assert show(subscriber(3_000_000), tiles) == {"small": "q", "big": "f"}
    tiles = [(camera("small"), 640, 360), (camera("big"), 1280, 720)]
    # 2.1 Mbit/s: the big tile takes the full layer (1.5 Mbit/s, with 20% headroom under
    # 90% of the bandwidth), the small one what is left: the quarter layer, not the half.
    assert show(subscriber(2_100_000), tiles) == {"small": "q", "big": "f"}
    # 1 Mbit/s: no room for the full layer, the big tile gets the half one.
    tiles = [(camera("small"), 640, 360), (camera("big"), 1280, 720)]
    assert show(subscriber(1_000_000), tiles) == {"small": "q", "big": "h"}


def test_a_video_switches_at_a_keyframe_and_an_audio_slot_at_once() -> None:
    peer = subscriber(8_000_000)
    track = camera()
    mic = UpTrack("ann", Source.MICROPHONE, MIC, Uplink())
    mic_stream = mic.stream(0x200, None)
    ensure_slots(peer, "audio", 1)
    fill(peer.slots_of("audio"), [mic])
    show(peer, [(track, 1280, 720)])
    [audio], [video] = peer.slots_of("audio"), peer.slots_of("video")
    assert audio.source is mic_stream and audio in mic_stream.downs
    assert video.source is None and video.target is track.streams[2]
    assert video in track.streams[2].pending  # started by the layer's next keyframe


def test_a_smaller_tile_moves_down_and_the_old_layer_stops_waiting() -> None:
    peer = subscriber(8_000_000)
    track = camera()
    show(peer, [(track, 1280, 720)])
    [video] = peer.slots_of("video")
    video.want_width, video.want_height = 320, 180
    select_streams(peer, {}, NOW)
    assert video.target is track.streams[0]
    assert video not in track.streams[2].pending
