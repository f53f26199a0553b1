"""Connection quality: how a participant's links are classed, and that the class shown does
not blink with every report."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.quality import (
    BETTER_AFTER_S,
    FAIR,
    GOOD,
    POOR,
    WORSE_AFTER_S,
    Debounced,
    UplinkWatch,
    classify,
)
from mosaic.media.sfu.up import UpTrack
from tests.helpers.allocation import CAMERA
from tests.helpers.sfu import Uplink


def test_a_clean_link_is_good() -> None:
    assert classify() == GOOD
    assert classify(loss=0.02, rtt_s=0.1) == GOOD  # a little loss is repaired unseen


def test_loss_round_trips_and_held_back_videos_make_it_fair() -> None:
    assert classify(loss=0.05) == FAIR
    assert classify(uplink_loss=0.05) == FAIR
    assert classify(rtt_s=0.4) == FAIR
    assert classify(limited=True) == FAIR


def test_a_paused_video_heavy_loss_or_an_unstable_uplink_make_it_poor() -> None:
    assert classify(paused=True) == POOR
    assert classify(loss=0.2) == POOR
    assert classify(uplink_loss=0.2) == POOR
    assert classify(rtt_s=1.0) == POOR
    assert classify(uplink_unstable=True) == POOR


def test_the_shown_class_changes_only_once_the_new_one_has_lasted() -> None:
    shown = Debounced(GOOD)
    now = 0.0
    # Poor reports that alternate with good ones every half second: never shown.
    for step in range(40):
        now += 0.25
        assert not shown.update(POOR if step % 4 < 2 else GOOD, now)
    assert shown.value == GOOD
    # Poor that lasts: shown after WORSE_AFTER_S ...
    start = now
    while not shown.update(POOR, now):
        now += 0.25
    assert shown.value == POOR and now - start >= WORSE_AFTER_S
    # ... and good again only after the longer BETTER_AFTER_S.
    start = now
    while not shown.update(GOOD, now):
        now += 0.25
    assert shown.value == GOOD and now - start >= BETTER_AFTER_S


def _camera_sending(watch_now: float) -> UpTrack:
    track = UpTrack("ann", Source.CAMERA, CAMERA, Uplink())
    stream = track.stream(0x100, "q")
    for number in range(10):
        stream.stats.update(number, number * 3000, watch_now, 1000)
    stream.last_packet = watch_now
    return track


def test_a_camera_whose_packets_stop_arriving_marks_the_uplink_unstable() -> None:
    now = 100.0
    track = _camera_sending(now)
    watch = UplinkWatch()
    assert not watch.update([track], now)
    changes = []
    for _ in range(20):  # nothing more arrives for 5 s
        now += 0.25
        if watch.update([track], now):
            changes.append(now)
    assert watch.unstable.value == "yes"
    assert changes and changes[0] - 100.0 <= 3.5  # silent 1 s, then held 2 s
    # A camera that is off (not forwarded) is no sign of trouble.
    track.forwarding = False
    calm = UplinkWatch()
    for _ in range(20):
        now += 0.25
        calm.update([track], now)
    assert calm.unstable.value == "no"


def test_heavy_loss_on_the_lowest_layer_marks_the_uplink_unstable() -> None:
    now = 100.0
    track = _camera_sending(now)
    [stream] = track.streams
    watch = UplinkWatch()
    watch.update([track], now)
    number = 10
    for _ in range(16):  # 4 s in which only every other packet arrives
        now += 0.25
        for _ in range(5):
            number += 2
            stream.stats.update(number, number * 3000, now, 1000)
        stream.last_packet = now
        watch.update([track], now)
    assert 0.4 <= watch.loss <= 0.6
    assert watch.unstable.value == "yes"


def test_a_simulcast_publisher_left_with_a_starving_lowest_layer_is_unstable() -> None:
    def camera(now: float, lowest_bps: float, higher_flowing: bool) -> UpTrack:
        track = UpTrack("ann", Source.CAMERA, CAMERA, Uplink())
        for index, rid in enumerate("qhf"):
            stream = track.stream(0x100 + index, rid)
            stream.stats.update(1, 0, now - 5, 1000)
            stream.last_packet = now if rid == "q" or higher_flowing else now - 0.8
        return track

    for lowest_bps, higher_flowing, expected in [
        (30_000, False, "yes"),  # the browser dropped h and f, and q starves
        (150_000, False, "no"),  # only q, but it carries a picture
        (30_000, True, "no"),  # a still scene: every layer still sent
    ]:
        now = 100.0
        track = camera(now, lowest_bps, higher_flowing)
        watch = UplinkWatch()
        for _ in range(16):
            now += 0.25
            for stream in track.streams:
                if stream.rid == "q" or higher_flowing:
                    stream.last_packet = now
            track.streams[0].meter.add(int(lowest_bps / 8 / 4), now)
            watch.update([track], now)
        assert watch.unstable.value == expected, (lowest_bps, higher_flowing)
