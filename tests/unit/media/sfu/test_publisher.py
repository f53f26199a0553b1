"""A publish connection without sockets: what it accepts, how it places each SSRC, what it
owes the publisher (NACKs, keyframe requests, receiver reports and REMB)."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.publisher import PublishPeer
from mosaic.media.sfu.up import UpTrack
from mosaic.media.wire.rtcp import Nack, Pli, ReceiverReport, Remb
from mosaic.media.wire.rtp import build_rtp
from mosaic.media.wire.sdp import parse_sdp
from tests.helpers.sfu import (
    CHROMIUM_AUDIO_SSRC,
    CHROMIUM_OFFER,
    CHROMIUM_SOURCES,
    MID_ID,
    RID_ID,
    Browser,
    FakeClock,
    FakeTransport,
)

REPAIRED_RID_ID = 11
ABS_SEND_TIME_ID = 2  # as Chromium's offer numbers it


class Publisher:
    """A publish connection on a fake transport, with the tracks it reported."""

    def __init__(self, refuse: frozenset[Source] = frozenset()) -> None:
        self.clock = FakeClock()
        self.transport = FakeTransport()
        self.transport.connected = True
        self.added: list[UpTrack] = []
        self.gone: list[UpTrack] = []
        self.peer = PublishPeer(
            "ann",
            self.transport,
            may_publish=lambda source: source not in refuse,
            on_track=self.added.append,
            on_track_gone=self.gone.append,
            clock=self.clock,
        )
        self.browser = Browser(self.transport, self.clock, seed=0)

    async def negotiate(self) -> str:
        return await self.peer.negotiate(CHROMIUM_OFFER, CHROMIUM_SOURCES)

    def track(self, source: Source) -> UpTrack:
        return next(track for track in self.added if track.source is source)


async def test_an_offer_is_answered_and_each_accepted_section_becomes_a_track() -> None:
    publisher = Publisher()
    answer = parse_sdp(await publisher.negotiate())
    assert [(m.mid, m.kind, m.rejected) for m in answer.media] == [
        ("0", "audio", False),
        ("1", "video", False),
    ]
    assert [(t.source, t.kind, t.rids) for t in publisher.added] == [
        (Source.MICROPHONE, "audio", []),
        (Source.CAMERA, "video", ["q", "h", "f"]),
    ]
    assert publisher.transport.started is not None
    assert publisher.transport.started["ice_controlling"] is False  # the browser offered


async def test_a_source_the_gate_refuses_is_turned_down_and_never_a_track() -> None:
    publisher = Publisher(refuse=frozenset({Source.CAMERA}))
    answer = parse_sdp(await publisher.negotiate())
    assert [m.rejected for m in answer.media] == [False, True]
    assert [t.source for t in publisher.added] == [Source.MICROPHONE]
    publisher.browser.video("f", keyframe=True)  # packets for it go nowhere
    assert publisher.peer.streams.keys() == {CHROMIUM_AUDIO_SSRC}


async def test_simulcast_layers_are_placed_by_their_rid_smallest_first() -> None:
    publisher = Publisher()
    await publisher.negotiate()
    for rid in "fqh":
        publisher.browser.video(rid, keyframe=True)
    publisher.browser.audio()
    camera = publisher.track(Source.CAMERA)
    assert [s.rid for s in camera.streams] == ["q", "h", "f"]
    assert [s.ssrc for s in camera.streams] == [publisher.browser.layer_ssrcs[r] for r in "qhf"]
    assert [s.ssrc for s in publisher.track(Source.MICROPHONE).streams] == [CHROMIUM_AUDIO_SSRC]
    assert camera.streams[2].width == 1280  # the keyframe said its size
    publisher.browser.video("x")  # a rid that was not offered: ignored
    assert len(camera.streams) == 3


async def test_a_lost_packet_is_nacked_at_once_then_again_and_an_rtx_copy_repairs_it() -> None:
    publisher = Publisher()
    await publisher.negotiate()
    browser = publisher.browser
    browser.video("f", keyframe=True)  # 100
    browser.sequence[browser.layer_ssrcs["f"]] = 102  # 101 is lost on the way
    browser.video("f")
    ssrc = browser.layer_ssrcs["f"]
    nacks = [p for p in publisher.transport.rtcp() if isinstance(p, Nack)]
    assert [(n.media_ssrc, n.lost) for n in nacks] == [(ssrc, [101])]
    publisher.clock.advance(0.2)
    publisher.peer.tick(publisher.clock())
    nacks = [p for p in publisher.transport.rtcp() if isinstance(p, Nack)]
    assert len(nacks) == 2  # asked again after a round trip
    # The publisher resends 101 on its RTX stream (named by the repaired-rid extension).
    [stream] = publisher.track(Source.CAMERA).streams
    for rtx_sequence in (1, 2):  # the first RTX packet places the RTX SSRC
        browser.transport.on_rtp(
            build_rtp(
                payload_type=97,
                sequence_number=rtx_sequence,
                timestamp=0,
                ssrc=0x7777,
                payload=(101).to_bytes(2, "big") + bytes([0x10, 0x11]) + bytes(30),
                extensions=[(MID_ID, b"1"), (REPAIRED_RID_ID, b"f")],
            )
        )
    assert publisher.peer.repaired == 1
    assert stream.cache.get(101) is not None
    assert not stream.nack.is_missing(101)  # type: ignore[union-attr]


async def test_a_keyframe_request_goes_to_the_publisher_as_a_pli_for_that_layer() -> None:
    publisher = Publisher()
    await publisher.negotiate()
    publisher.browser.all_layers(keyframe=True)
    publisher.track(Source.CAMERA).streams[1].request_keyframe(publisher.clock())
    plis = [p for p in publisher.transport.rtcp() if isinstance(p, Pli)]
    assert [p.media_ssrc for p in plis] == [publisher.browser.layer_ssrcs["h"]]
    assert publisher.peer.keyframe_requests == 1


async def test_reports_tell_the_publisher_what_arrived_and_how_much_it_may_send() -> None:
    publisher = Publisher()
    await publisher.negotiate()
    for _ in range(5):
        publisher.browser.all_layers()
        publisher.browser.audio()
        publisher.clock.advance(0.02)
    publisher.peer.send_reports(publisher.clock())
    [report, remb] = publisher.transport.rtcp()
    assert isinstance(report, ReceiverReport) and isinstance(remb, Remb)
    assert {block.ssrc for block in report.reports} == {
        CHROMIUM_AUDIO_SSRC,
        *publisher.browser.layer_ssrcs.values(),
    }
    assert sorted(remb.ssrcs) == sorted(publisher.browser.layer_ssrcs.values())
    assert remb.bitrate > 1_000_000  # enough for Chromium to send its full layer


async def test_garbage_is_counted_and_dropped() -> None:
    publisher = Publisher()
    await publisher.negotiate()
    publisher.transport.on_rtp(b"\x80\x60\x00")
    publisher.transport.on_rtcp(b"\x81\xc9")
    assert publisher.peer.malformed == 2
    assert publisher.peer.streams.keys() == {CHROMIUM_AUDIO_SSRC}


async def test_closing_drops_every_track_and_its_receivers() -> None:
    publisher = Publisher()
    await publisher.negotiate()
    publisher.browser.all_layers(keyframe=True)
    await publisher.peer.close()
    assert publisher.gone == publisher.added
    assert publisher.peer.streams == {} and publisher.transport.closed


async def test_a_growing_uplink_queue_cuts_the_remb_before_anything_is_lost() -> None:
    """Chromium's packets carry their send time (abs-send-time); the connection reads it back
    from the newest cached packets on its uplink samples. When they start taking longer and
    longer to arrive (a squeezed uplink's queue filling), the REMB is cut within 0.6 s, while
    every packet still arrives: before the loss that used to be the first sign, 1.2 s in."""
    publisher = Publisher()
    await publisher.negotiate()
    clock = publisher.clock
    sequence = dict.fromkeys("qhf", 0)

    def send(rid: str, sent_at: float) -> None:
        ssrc = 0x3000_0000 + "qhf".index(rid)
        sequence[rid] += 1
        send_time = int(sent_at * (1 << 18)) & 0xFFFFFF
        publisher.transport.on_rtp(
            build_rtp(
                payload_type=96,
                sequence_number=sequence[rid],
                timestamp=int(sent_at * 90000) & 0xFFFFFFFF,
                ssrc=ssrc,
                payload=bytes([0x10, 0x11]) + bytes(900),
                extensions=[
                    (MID_ID, b"1"),
                    (RID_ID, rid.encode()),
                    (ABS_SEND_TIME_ID, send_time.to_bytes(3, "big")),
                ],
            )
        )

    start = clock()
    queue = 0.0
    while clock() - start < 4.0:
        squeezed = clock() - start >= 3.0
        queue += 0.01 * 0.7 if squeezed else 0.0  # 1.2 Mbit/s into 0.7: 0.7 s more a second
        for rid in "qhfff":  # ~500 packets a second, all arriving
            send(rid, clock() - queue)
        clock.advance(0.01)
        if round((clock() - start) * 100) % 5 == 0:
            publisher.peer.tick(clock())
        if publisher.peer.limit_cuts:
            break
    assert publisher.peer.limit_cuts == 1
    assert clock() - start <= 3.0 + 0.6  # two samples in a row, the queue growing
    assert [p for p in publisher.transport.rtcp() if isinstance(p, Remb)]
