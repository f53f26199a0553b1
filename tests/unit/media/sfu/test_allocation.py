"""What fills a subscriber's slots: which audio streams win, which simulcast layer each tile
gets within the subscriber's budget, in which order, when a video steps down or pauses, and
when it may come back up."""

from __future__ import annotations

import math

import pytest

from mosaic.domain.roster import Source
from mosaic.media.sfu.allocation import (
    AUDIO_CAP,
    DEFAULT_VIEW_COUNT,
    FIT_HOLD_S,
    MIN_CAP_BPS,
    PAUSE_AFTER_S,
    Allocation,
    SlotState,
    TickLayers,
    Tracks,
    budget_of,
    ensure_slots,
    fill,
    select_streams,
    wanted_audio,
    wanted_videos,
)
from mosaic.media.sfu.simulcast import UP_HOLD_S, Layer
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.sfu.up import LAYER_BACK_AFTER, LAYER_GONE_AFTER, UpStream, UpTrack
from mosaic.media.wire.rtp import ExtensionIds, build_rtp, parse_rtp
from tests.helpers.allocation import CAMERA, LAYERS, MIC, NOW, camera, chosen, subscriber
from tests.helpers.sfu import Uplink


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


def show(
    budget: float,
    tiles: list[tuple[UpTrack, int, int]],
    *,
    peer: SubscribePeer | None = None,
    dominant: str | None = None,
    layers: TickLayers | None = None,
) -> dict[str, str]:
    """Give each track a video slot of that tile size, within ``budget`` bit/s; the rid
    each slot is switched to."""
    peer = peer or subscriber()
    ensure_slots(peer, "video", len(tiles))
    fill(peer.slots_of("video"), [track for track, _, _ in tiles])
    for down, (_, width, height) in zip(peer.slots_of("video"), tiles, strict=True):
        down.want_width, down.want_height = width, height
    select_streams(peer, {}, NOW, budget_bps=budget, dominant=dominant, layers=layers)
    return chosen(peer)


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
        assert show(8_000_000, [(camera(), width, height)]) == {"ann": rid}


def test_bandwidth_goes_to_the_biggest_tile_first() -> None:
    tiles = [(camera("small"), 320, 180), (camera("big"), 1280, 720)]
    assert show(3_000_000, tiles) == {"small": "q", "big": "f"}
    tiles = [(camera("small"), 640, 360), (camera("big"), 1280, 720)]
    # 2.1 Mbit/s: the big tile takes the full layer (1.5 Mbit/s, with 20% headroom under
    # 90% of the bandwidth), the small one what is left: the quarter layer, not the half.
    assert show(2_100_000, tiles) == {"small": "q", "big": "f"}
    # 1 Mbit/s: no room for the full layer, the big tile gets the half one.
    tiles = [(camera("small"), 640, 360), (camera("big"), 1280, 720)]
    assert show(1_000_000, tiles) == {"small": "q", "big": "h"}


def test_a_video_switches_at_a_keyframe_and_an_audio_slot_at_once() -> None:
    peer = subscriber()
    track = camera()
    mic = UpTrack("ann", Source.MICROPHONE, MIC, Uplink())
    mic_stream = mic.stream(0x200, None)
    ensure_slots(peer, "audio", 1)
    fill(peer.slots_of("audio"), [mic])
    show(8_000_000, [(track, 1280, 720)], peer=peer)
    [audio], [video] = peer.slots_of("audio"), peer.slots_of("video")
    assert audio.source is mic_stream and audio in mic_stream.downs
    assert video.source is None and video.target is track.streams[2]
    assert video in track.streams[2].pending  # started by the layer's next keyframe


def test_a_smaller_tile_moves_down_and_the_old_layer_stops_waiting() -> None:
    peer = subscriber()
    track = camera()
    show(8_000_000, [(track, 1280, 720)], peer=peer)
    [video] = peer.slots_of("video")
    video.want_width, video.want_height = 320, 180
    select_streams(peer, {}, NOW, budget_bps=8_000_000)
    assert video.target is track.streams[0]
    assert video not in track.streams[2].pending


# -- the budget: order, step-down, pause, recovery ---------------------------------------------


class Viewer:
    """One subscriber watching one camera in a big tile, allocated as the router does it
    (four times a second), with a budget the test sets; the camera keeps flowing."""

    def __init__(self, budget: float, *, tile: tuple[int, int] = (1280, 720)) -> None:
        self.peer = subscriber()
        self.track = camera()
        self.states: dict[str, SlotState] = {}
        self.now = NOW
        self.budget = budget
        self.silent: set[str] = set()  # layers the publisher stopped sending
        ensure_slots(self.peer, "video", 1)
        fill(self.peer.slots_of("video"), [self.track])
        [self.down] = self.peer.slots_of("video")
        self.down.want_width, self.down.want_height = tile
        self.last = self.allocate()

    def allocate(self) -> Allocation:
        for stream in self.track.streams:
            if stream.rid not in self.silent:
                if self.now - stream.last_packet > LAYER_GONE_AFTER:  # as `receive` does
                    stream.resumed_at = self.now
                stream.last_packet = self.now
                stream.meter.add(int(LAYERS[stream.rid or ""][2] / 8 / 4), self.now)
        self.last = select_streams(self.peer, self.states, self.now, budget_bps=self.budget)
        return self.last

    def run(self, seconds: float, budget: float | None = None) -> list[str]:
        """Allocate every 250 ms for ``seconds``; the layer after each allocation."""
        if budget is not None:
            self.budget = budget
        layers = []
        for _ in range(round(seconds / 0.25)):
            self.now += 0.25
            self.allocate()
            layers.append(self.layer)
        return layers

    @property
    def layer(self) -> str:
        return chosen(self.peer)["ann"]


def test_audio_is_paid_for_before_any_video() -> None:
    peer = subscriber()
    mic = UpTrack("bob", Source.MICROPHONE, MIC, Uplink())
    voice = mic.stream(0x300, None)
    voice.meter.add(40_000 // 8, NOW - 0.5)  # 40 kbit/s of speech
    ensure_slots(peer, "audio", 1)
    fill(peer.slots_of("audio"), [mic])
    # 200 kbit/s carry the quarter layer (150 kbit/s, +20 % to start) alone...
    assert show(200_000, [(camera(), 320, 180)]) == {"ann": "q"}
    # ... but not once the speaker is heard: the audio keeps its place, the video pauses.
    assert show(200_000, [(camera(), 320, 180)], peer=peer) == {"ann": "paused"}
    # At 64 kbit/s the speaker is still heard.
    assert show(64_000, [(camera(), 320, 180)], peer=peer) == {"ann": "paused"}
    assert peer.slots_of("audio")[0].source is voice


def test_a_screen_share_then_the_active_speaker_then_tiles_by_size() -> None:
    tiles = [
        (camera("big"), 1280, 720),
        (camera("speaker"), 320, 180),
        (camera("screen", Source.SCREEN), 640, 360),
    ]
    # 1 Mbit/s: the screen takes its half layer, the speaker its quarter one, and the big
    # tile (which would have come first by size) what is left: the quarter layer.
    assert show(1_000_000, tiles, dominant="speaker") == {
        "big": "q",
        "speaker": "q",
        "screen": "h",
    }
    # Less: the big tile pauses first, then the screen steps down, then the speaker pauses.
    assert show(700_000, tiles, dominant="speaker") == {
        "big": "paused",
        "speaker": "q",
        "screen": "h",
    }
    assert show(400_000, tiles, dominant="speaker") == {
        "big": "paused",
        "speaker": "q",
        "screen": "q",
    }
    assert show(250_000, tiles, dominant="speaker") == {
        "big": "paused",
        "speaker": "paused",
        "screen": "q",
    }


def test_a_shrinking_budget_steps_down_through_the_layers_then_pauses() -> None:
    viewer = Viewer(3_000_000)
    assert viewer.layer == "f"
    assert viewer.run(0.25, 1_000_000) == ["h"]
    assert viewer.run(0.25, 300_000) == ["q"]
    # Not at once: an estimate dips while it looks for a link's rate.
    layers = viewer.run(PAUSE_AFTER_S + 0.5, 100_000)
    assert layers[: round(PAUSE_AFTER_S / 0.25)] == ["q"] * round(PAUSE_AFTER_S / 0.25)
    assert layers[-1] == "paused"
    assert viewer.down.source is None and viewer.down.target is None  # nothing forwarded
    assert viewer.last.paused == {("ann", Source.CAMERA)}
    # No probe just after: it would only add to the congestion. Later, one is due: the
    # quarter layer (with headroom) is that far away, and the viewer uses little.
    assert viewer.last.shortfall_bps == 0
    viewer.run(UP_HOLD_S)
    assert viewer.last.shortfall_bps > 0


def test_recovery_waits_for_calm_and_lasting_headroom_then_goes_straight_up() -> None:
    viewer = Viewer(3_000_000)
    viewer.run(PAUSE_AFTER_S + 0.5, 100_000)
    assert viewer.layer == "paused"
    layers = viewer.run(10.0, 3_000_000)
    first = layers.index("f")
    assert set(layers[:first]) == {"paused"}  # no stop on the way: straight to the full layer
    # 4 s of calm since the pause (half a second before the restore), headroom for 1 s.
    assert UP_HOLD_S - 0.5 <= (first + 1) * 0.25 <= UP_HOLD_S + FIT_HOLD_S
    assert viewer.last.paused == set() and not viewer.last.limited


def test_an_estimate_wobbling_around_a_layer_does_not_make_it_flap() -> None:
    viewer = Viewer(3_000_000)
    # Around what the full layer needs (1.5 Mbit/s within 90 % of the budget), +-6 %.
    threshold = 1_500_000 / 0.9
    switches = 0
    previous = viewer.layer
    for step in range(240):  # a minute
        viewer.budget = threshold * (1.06 if step % 4 < 2 else 0.94)
        viewer.now += 0.25
        viewer.allocate()
        switches += viewer.layer != previous
        previous = viewer.layer
    assert switches == 1  # down once, and never up: that needs 20 % headroom


def test_a_short_dip_is_followed_by_a_hold_not_an_immediate_return() -> None:
    viewer = Viewer(3_000_000)
    viewer.run(0.25, 1_000_000)
    assert viewer.layer == "h"
    layers = viewer.run(UP_HOLD_S - 0.5, 3_000_000)
    assert set(layers) == {"h"}
    assert viewer.run(FIT_HOLD_S + 1.0)[-1] == "f"


def test_a_tile_that_grows_moves_up_at_once_when_bandwidth_never_pushed_it_down() -> None:
    viewer = Viewer(3_000_000, tile=(320, 180))
    assert set(viewer.run(1.5)) == {"q"}
    viewer.down.want_width, viewer.down.want_height = 1280, 720
    assert viewer.run(0.25) == ["f"]


def test_viewers_of_a_layer_that_stops_arriving_move_to_one_still_flowing() -> None:
    viewer = Viewer(3_000_000)
    assert viewer.layer == "f"
    viewer.silent.add("f")  # its publisher stops sending it (the others keep flowing)
    layers = viewer.run(1.0)
    assert layers[0] == "f"  # 250 ms of silence: could be jitter
    assert layers.index("h") <= 2  # gone after 500 ms: moved within 750 ms
    assert viewer.down.target is viewer.track.streams[1]  # a keyframe of it is awaited
    assert not viewer.last.limited  # not a bandwidth matter: no hold on the way back
    # Back: it counts again once it has flowed for a second (no flapping with a publisher
    # that restarts and stops it), then the viewer goes up at once.
    viewer.silent.clear()
    layers = viewer.run(1.5)
    assert layers[: round(LAYER_BACK_AFTER / 0.25) - 1] == ["h"] * 3
    assert layers[-1] == "f"


def test_the_data_saver_caps_the_budget_but_never_below_audio() -> None:
    peer = subscriber()
    assert budget_of(peer, 300_000) == min(budget_of(peer), 300_000)
    assert budget_of(peer, 1_000) == min(budget_of(peer), MIN_CAP_BPS)
    assert budget_of(peer, None) == budget_of(peer)
    assert math.isfinite(budget_of(peer))


def test_a_short_dip_under_the_lowest_layer_does_not_pause_the_video() -> None:
    viewer = Viewer(300_000, tile=(320, 180))
    assert viewer.layer == "q"
    assert set(viewer.run(PAUSE_AFTER_S - 0.5, 100_000)) == {"q"}
    assert set(viewer.run(5.0, 300_000)) == {"q"}
    assert viewer.last.paused == set()


def test_padding_alone_does_not_keep_a_stopped_layer_flowing() -> None:
    viewer = Viewer(3_000_000)
    full = viewer.track.streams[2]
    viewer.silent.add("f")  # no more pictures on it: only the browser's padding probes
    layers = []
    for step in range(4):
        data = build_rtp(
            payload_type=96, sequence_number=100 + step, timestamp=0, ssrc=full.ssrc, payload=b""
        )
        full.receive(data, parse_rtp(data, ExtensionIds()), viewer.now)
        layers += viewer.run(0.25)
    assert layers[-1] == "h"


def test_every_viewer_in_a_tick_chooses_as_alone_and_each_tracks_layers_are_found_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A gallery seen by everyone: each track's layers are found once per tick, not once per
    viewer, and each viewer's choice is the one it makes alone."""
    tracks = [camera(f"p{index}") for index in range(6)]
    found: list[str] = []
    layers_of = UpTrack.layers

    def counted(track: UpTrack, now: float) -> list[tuple[UpStream, Layer]]:
        found.append(track.participant_id)
        return layers_of(track, now)

    monkeypatch.setattr(UpTrack, "layers", counted)
    budgets = [300_000.0, 1_200_000.0, 3_000_000.0, 8_000_000.0]
    tiles = [(track, 640, 360) for track in tracks]
    alone = [show(budget, tiles) for budget in budgets]
    found.clear()
    tick: TickLayers = {}
    together = [show(budget, tiles, layers=tick) for budget in budgets]
    assert together == alone
    assert len({*alone[0].values(), *alone[-1].values()}) > 1  # the budgets chose differently
    assert sorted(found) == sorted(track.participant_id for track in tracks)
