"""The budget per viewer in a running router: the events it tells the viewer, the data saver,
probing, and what others learn of a participant's connection."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.allocation import PAUSE_AFTER_S
from mosaic.media.sfu.probe import (
    MAX_TOTAL_SHARE,
    MIN_INTERVAL_S,
    PROBE_S,
    QUIET_AFTER_PAUSE_S,
    RESULT_LAG_S,
    Prober,
)
from mosaic.media.sfu.quality import WORSE_AFTER_S
from mosaic.media.sfu.simulcast import UP_HOLD_S
from mosaic.media.wire.rtp import build_rtp
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import MID_ID, RID_ID, Browser, FakeTransport, Meeting

# Bytes per 50 ms tick: about 160 kbit/s, 480 kbit/s and 1.6 Mbit/s.
PACKETS_PER_TICK = {"q": 1, "h": 3, "f": 10}
SIZES = {"q": (320, 180), "h": (640, 360), "f": (1280, 720)}


def send_layers(browser: Browser, layers: str = "qhf", keyframe: bool = False) -> None:
    """One tick's worth of each layer, in 1,000-byte packets (the helper's are tiny)."""
    for rid in layers:
        for index in range(PACKETS_PER_TICK[rid]):
            ssrc = browser.layer_ssrcs[rid]
            first = keyframe and index == 0
            payload = bytes([0x10]) + (vp8_keyframe_header(*SIZES[rid]) if first else bytes([0x11]))
            data = build_rtp(
                payload_type=96,
                sequence_number=browser.next_sequence(ssrc),
                timestamp=int(browser.clock.now * 90000) & 0xFFFFFFFF,
                ssrc=ssrc,
                payload=payload.ljust(1000, b"\0"),
                marker=index == PACKETS_PER_TICK[rid] - 1,
                extensions=[(MID_ID, b"1"), (RID_ID, rid.encode())],
            )
            browser.transport.on_rtp(data)


def run(meeting: Meeting, browser: Browser, seconds: float, layers: str = "qhf") -> None:
    for step in range(round(seconds / 0.05)):
        send_layers(browser, layers, keyframe=step % 10 == 0)
        browser.audio()
        meeting.tick()


async def watching(max_kbps: int | None) -> tuple[Meeting, Browser]:
    meeting = Meeting()
    ann = await meeting.publish("ann")
    send_layers(ann, keyframe=True)
    await meeting.subscribe("sam")
    meeting.router.view("sam", [("ann", Source.CAMERA, 1280, 720)], max_kbps)
    return meeting, ann


def paused_events(meeting: Meeting) -> list[bool]:
    return [frame["paused"] for frame in meeting.frames.of("sam", "video_paused")]


async def test_a_video_that_does_not_fit_is_paused_and_the_viewer_told() -> None:
    meeting, ann = await watching(max_kbps=64)
    run(meeting, ann, PAUSE_AFTER_S + 0.5)  # not on the first dip: see `PAUSE_AFTER_S`
    [event] = meeting.frames.of("sam", "video_paused")
    assert event == {
        "type": "video_paused",
        "participant_id": "ann",
        "source": "camera",
        "paused": True,
        "reason": "bandwidth",
    }
    [audio, video] = meeting.router.subscribers["sam"].peer.slots
    assert video.source is None and video.target is None  # nothing forwarded for it
    assert audio.source is not None  # the speaker is still heard
    sent = video.packets_sent
    run(meeting, ann, 1.0)
    assert video.packets_sent == sent


async def test_the_data_saver_caps_the_layer_and_lifting_it_resumes() -> None:
    meeting, ann = await watching(max_kbps=300)
    run(meeting, ann, 1.0)
    [_, video] = meeting.router.subscribers["sam"].peer.slots
    assert video.source is not None and video.source.rid == "q"  # type: ignore[attr-defined]
    assert paused_events(meeting) == []
    meeting.router.view("sam", [("ann", Source.CAMERA, 1280, 720)], 64)
    run(meeting, ann, 2.0)
    assert paused_events(meeting) == [True]
    meeting.router.view("sam", [("ann", Source.CAMERA, 640, 360)], None)
    run(meeting, ann, UP_HOLD_S + 2.0)
    assert paused_events(meeting) == [True, False]
    assert video.source is not None and video.source.rid == "h"  # type: ignore[attr-defined]


async def test_a_held_back_viewer_is_probed_with_padding_only_packets() -> None:
    meeting, ann = await watching(max_kbps=None)
    meeting.router.view("sam", [("ann", Source.CAMERA, 320, 180)])  # no step up wanted
    run(meeting, ann, 1.0)
    subscriber = meeting.router.subscribers["sam"]
    [_, video] = subscriber.peer.slots
    assert video.source is not None
    # A step up 400 kbit/s away, on a 1 Mbit/s estimate: a probe of twice that (by a new
    # prober: the big tile it was first shown made the router probe already).
    subscriber.prober = Prober()
    subscriber.prober.consider(400_000, 1_000_000, meeting.clock.now)
    transport = subscriber.peer.transport
    assert isinstance(transport, FakeTransport)
    before = len(transport.sent_rtp)
    run(meeting, ann, PROBE_S)
    probes = [
        (data, header)
        for data, header in zip(
            transport.sent_rtp[before:], transport.headers()[before:], strict=True
        )
        if header.ssrc == video.rtx_ssrc
    ]
    probe_bytes = sum(len(data) for data, _ in probes)
    assert 700_000 / 8 * PROBE_S <= probe_bytes <= 900_000 / 8 * PROBE_S
    assert subscriber.prober.packets == len(probes)
    # Padding only: nothing a decoder could take for a picture.
    assert all(header.payload_end == header.payload_offset for _, header in probes)
    assert all(data[0] & 0x20 for data, _ in probes)
    assert subscriber.peer.retransmissions == 0  # probes are not counted as repairs
    # Nothing came of it (the estimate did not rise): once its feedback is in, the next one
    # waits twice as long.
    later = subscriber.prober.until + RESULT_LAG_S
    subscriber.prober.tick(subscriber.peer, later)
    subscriber.prober.consider(400_000, 1_000_000, later + 0.01)
    assert subscriber.prober.interval == 2 * MIN_INTERVAL_S


async def test_others_learn_that_a_viewer_s_connection_is_poor() -> None:
    meeting, ann = await watching(max_kbps=64)
    told: list[tuple[str, str, bool]] = []
    meeting.router.on_condition = lambda pid, quality, unstable: told.append(
        (pid, quality, unstable)
    )
    run(meeting, ann, PAUSE_AFTER_S + WORSE_AFTER_S + 1.0)
    assert ("sam", "poor", False) in told
    assert meeting.router.conditions["sam"] == ("poor", False)
    assert meeting.router.conditions.get("ann", ("good", False)) == ("good", False)


async def test_a_publisher_whose_video_stops_arriving_is_marked_unstable() -> None:
    meeting, ann = await watching(max_kbps=None)
    told: list[tuple[str, str, bool]] = []
    meeting.router.on_condition = lambda pid, quality, unstable: told.append(
        (pid, quality, unstable)
    )
    run(meeting, ann, 1.0)
    run(meeting, ann, 5.0, layers="")  # audio only: the camera's uplink gave up
    assert ("ann", "poor", True) in told
    run(meeting, ann, 6.0)  # video flows again
    assert meeting.router.conditions["ann"][1] is False


async def test_a_paused_viewer_is_probed_too_so_that_it_can_come_back() -> None:
    meeting, ann = await watching(max_kbps=None)
    subscriber = meeting.router.subscribers["sam"]
    subscriber.cap_bps = None
    # The link has pushed back (half its packets lost): from now on the estimate is the
    # budget, and the step down it caused is followed by calm.
    subscriber.peer.estimator.on_receiver_report(0.5, None, meeting.clock.now)
    run(meeting, ann, UP_HOLD_S)
    meeting.router.view("sam", [("ann", Source.CAMERA, 1280, 720)], 64)
    run(meeting, ann, 2.0)
    assert paused_events(meeting) == [True]
    # The cap lifted, the estimate still low for the tile: the video resumes on a lower
    # layer, and the viewer is probed for the step up.
    meeting.router.view("sam", [("ann", Source.CAMERA, 1280, 720)], None)
    run(meeting, ann, 0.5)
    assert subscriber.prober.packets > 0 or subscriber.prober.next_at > meeting.clock.now


async def test_a_link_that_never_pushed_back_gets_every_layer_and_one_that_did_its_estimate() -> (
    None
):
    """The estimate starts at 1 Mbit/s, where its climb begins, not at the link's limit: a
    viewer whose link has shown no congestion gets the 1.6 Mbit/s layer its big tile wants at
    once (a gallery of full layers once starved there, app-limited, for tens of seconds).
    The first congestion signal (here a receiver report of heavy loss) makes the estimate the
    budget; a REMB that falls does not (aiortc's follows what it receives)."""
    meeting, ann = await watching(max_kbps=None)
    run(meeting, ann, 1.0)
    subscriber = meeting.router.subscribers["sam"]
    [_, video] = subscriber.peer.slots
    assert subscriber.peer.estimated_bps <= 1_000_000
    assert video.source is not None and video.source.rid == "f"  # type: ignore[attr-defined]
    assert paused_events(meeting) == []
    subscriber.peer.estimator.on_remb(900_000, meeting.clock.now)
    run(meeting, ann, 1.0)
    assert video.source is not None and video.source.rid == "f"  # type: ignore[attr-defined]
    subscriber.peer.estimator.on_receiver_report(0.5, None, meeting.clock.now)
    run(meeting, ann, 1.0)
    assert video.source is not None and video.source.rid == "h"  # type: ignore[attr-defined]


def test_a_paused_viewer_s_probe_makes_it_receive_the_whole_rate_its_resume_needs() -> None:
    # Audio only (40 kbit/s) on a 100 kbit/s estimate; resuming the quarter layer needs a
    # total of 190 kbit/s. The estimate rises to what the receiver was seen to get, so the
    # probe must fill the gap to the total (with a margin), not add the 20 kbit/s shortfall.
    prober = Prober()
    prober.consider(20_000, 100_000, 10.0, goal_bps=190_000, sent_bps=40_000)
    assert prober.rate_bps >= 190_000 - 40_000
    # ... within MAX_TOTAL_SHARE x the budget in all: a probe far past the link only
    # queues the audio behind it.
    prober = Prober()
    prober.consider(500_000, 100_000, 10.0, goal_bps=900_000, sent_bps=40_000)
    assert abs(prober.rate_bps + 40_000 - MAX_TOTAL_SHARE * 100_000) < 1


async def test_a_video_just_paused_is_not_probed_before_its_link_had_a_rest() -> None:
    # Its link has only just failed to carry the lowest layer, and the audio is all the
    # viewer still gets: a probe there fills the queue the audio needs (a Firefox viewer at
    # 64 kbit/s lost its speaker for 220-340 ms at a probe 3 s after the pause). The first
    # probe waits `QUIET_AFTER_PAUSE_S`, then comes.
    meeting, ann = await watching(max_kbps=None)
    subscriber = meeting.router.subscribers["sam"]
    estimator = subscriber.peer.estimator
    while not paused_events(meeting):  # heavy loss, report after report: the link shrinks
        estimator.on_receiver_report(0.9, None, meeting.clock.now)
        run(meeting, ann, 0.5)
    assert subscriber.prober.packets == 0  # none while it stepped down, so none failed
    paused_at = meeting.clock.now
    run(meeting, ann, QUIET_AFTER_PAUSE_S - 0.5)
    assert subscriber.prober.packets == 0
    run(meeting, ann, 1.5)
    assert subscriber.prober.packets > 0
    assert meeting.clock.now - paused_at < QUIET_AFTER_PAUSE_S + 1.5


def test_a_pause_ends_the_back_off_of_probes_that_failed_on_the_way_down() -> None:
    # Probes that failed while the link fell put the next one 16 s away; once the video is
    # paused, the next comes after the pause's quiet, and one that fails then (the link not
    # back yet) is retried soon: the link's recovery is found within seconds.
    prober = Prober()
    prober.interval, prober.next_at = 16.0, 40.0
    prober.paused(10.0)
    start = 10.0 + QUIET_AFTER_PAUSE_S
    prober.consider(100_000, 60_000, start, goal_bps=175_000, sent_bps=30_000)
    assert prober.active
    prober._judge(60_000, start + 1.0)  # the estimate did not rise: it failed
    assert prober.next_at == start + 1.0 + MIN_INTERVAL_S
