"""A subscribe connection without sockets: its offers, and how it answers the browser's
feedback (NACKs from the up stream's cache, keyframe requests passed on, bandwidth)."""

from __future__ import annotations

import pytest

from mosaic.media.sfu.negotiation import RTX_PT, VP8_PT
from mosaic.media.sfu.subscriber import REPAIR_BURST_MIN_BYTES
from mosaic.media.sfu.up import UpStream
from mosaic.media.wire.rtcp import Fir, ReceiverReport, Remb, ReportBlock, SenderReport
from mosaic.media.wire.sdp import SdpError, parse_sdp
from tests.helpers.sfu import nack, pli, subscribe_answer
from tests.helpers.subscriber import SSRC, Subscriber


async def test_slots_are_offered_send_only_and_a_second_offer_waits_for_the_answer() -> None:
    subscriber = Subscriber()
    peer = subscriber.peer
    peer.add_slot("audio")
    peer.add_slot("video")
    await peer.negotiate()
    [offer] = subscriber.offers
    sections = parse_sdp(offer).media
    assert [(m.mid, m.kind, m.direction) for m in sections] == [
        ("0", "audio", "sendonly"),
        ("1", "video", "sendonly"),
    ]
    assert {s.id for s in sections[1].ssrcs} == {peer.slots[1].ssrc, peer.slots[1].rtx_ssrc}
    peer.add_slot("video")
    await peer.negotiate()  # an offer is out: this one comes after the answer
    assert len(subscriber.offers) == 1
    assert await peer.answer(subscribe_answer(offer)) is True
    assert subscriber.transport.started is not None
    assert subscriber.transport.started["ice_controlling"] is True
    with pytest.raises(SdpError):
        await peer.answer(subscribe_answer(offer))  # nothing waits for an answer now


async def test_a_video_starts_at_a_keyframe() -> None:
    subscriber = Subscriber()
    down = await subscriber.connect()
    subscriber.packet()
    subscriber.packet()
    assert subscriber.transport.sent_rtp == []  # interframes: undecodable from here
    subscriber.packet(keyframe=True)
    subscriber.packet()
    headers = subscriber.transport.headers()
    assert [(h.ssrc, h.payload_type) for h in headers] == [(down.ssrc, VP8_PT)] * 2
    assert headers[1].sequence_number == (headers[0].sequence_number + 1) & 0xFFFF


async def test_a_nack_is_answered_as_rtx_from_the_up_streams_cache() -> None:
    subscriber = Subscriber()
    down = await subscriber.connect()
    subscriber.packet(keyframe=True)
    for _ in range(4):
        subscriber.packet()
    sent = subscriber.transport.headers()
    lost = sent[2].sequence_number
    subscriber.transport.on_rtcp(nack(down.ssrc, [lost, (lost + 1000) & 0xFFFF]))
    rtx = subscriber.transport.sent_rtp[-1]
    header = subscriber.transport.headers()[-1]
    assert (header.ssrc, header.payload_type) == (down.rtx_ssrc, RTX_PT)
    assert int.from_bytes(rtx[header.payload_offset : header.payload_offset + 2], "big") == lost
    assert (
        rtx[header.payload_offset + 2 :]
        == subscriber.transport.sent_rtp[2][header.payload_offset :]
    )
    peer = subscriber.peer
    assert (peer.nacks, peer.retransmissions, peer.unrepairable) == (1, 1, 1)
    assert subscriber.uplink.nacks == []  # answered here, the publisher is not asked


async def test_a_pli_or_fir_from_the_browser_reaches_the_publisher() -> None:
    subscriber = Subscriber()
    down = await subscriber.connect()
    subscriber.packet(keyframe=True)
    requests = len(subscriber.uplink.keyframe_requests)
    subscriber.clock.advance(1.0)
    subscriber.transport.on_rtcp(pli(down.ssrc))
    subscriber.clock.advance(1.0)
    subscriber.transport.on_rtcp(Fir(1, [(down.ssrc, 1)]).serialize())
    subscriber.transport.on_rtcp(pli(0xDEAD))  # not one of ours
    assert subscriber.uplink.keyframe_requests[requests:] == [SSRC, SSRC]
    assert subscriber.peer.keyframe_requests == 2


async def test_remb_may_only_raise_the_loss_based_bandwidth() -> None:
    subscriber = Subscriber()
    peer = subscriber.peer
    start = peer.bandwidth
    subscriber.transport.on_rtcp(Remb(1, 500_000, [1]).serialize())
    assert peer.bandwidth == start  # REMB below what loss allows: ignored
    subscriber.transport.on_rtcp(Remb(1, 6_000_000, [1]).serialize())
    assert peer.bandwidth == 6_000_000
    # Loss counts on the streams we send (a block about another SSRC, or an RTX one, not).
    down = peer.add_slot("video")
    heavy_loss = ReportBlock(down.ssrc, 128, 10, 1000, 0, 0, 0)
    for _ in range(5):
        subscriber.transport.on_rtcp(ReceiverReport(1, [heavy_loss]).serialize())
    assert peer.loss_estimate.bitrate < start


async def test_a_subscriber_connecting_late_starts_from_the_cached_keyframe() -> None:
    subscriber = Subscriber()
    down = subscriber.peer.add_slot("video")
    down.assign(subscriber.track)
    down.want(subscriber.stream, subscriber.clock())
    await subscriber.peer.negotiate()
    await subscriber.peer.answer(subscribe_answer(subscriber.offers[-1]))
    subscriber.packet(keyframe=True)  # while ICE and DTLS finish: it waits in the cache
    subscriber.packet()
    assert down.source is None
    subscriber.transport.connect()
    assert down.source is subscriber.stream
    assert len(subscriber.transport.sent_rtp) == 2  # the keyframe and what followed, at once


async def test_sender_reports_for_the_slots_that_sent() -> None:
    subscriber = Subscriber()
    down = await subscriber.connect()
    subscriber.peer.add_slot("audio")
    subscriber.packet(keyframe=True)
    subscriber.peer.send_reports(subscriber.clock())
    [report] = subscriber.transport.rtcp()
    assert isinstance(report, SenderReport)
    assert (report.ssrc, report.packet_count) == (down.ssrc, 1)


async def test_closing_lets_go_of_every_feed() -> None:
    subscriber = Subscriber()
    await subscriber.connect()
    subscriber.packet(keyframe=True)
    stream: UpStream = subscriber.stream
    assert stream.downs
    await subscriber.peer.close()
    assert stream.downs == [] and stream.pending == []
    assert subscriber.peer.slots == [] and subscriber.transport.closed


async def test_repairs_stay_within_what_a_squeezed_viewer_s_budget_leaves() -> None:
    # A link full of the layers it is sent loses packets because it is full: resending all
    # of them fills it more. With 2 kbit/s left for repairs, a NACK for ten full packets gets
    # one burst's worth (`REPAIR_BURST_MIN_BYTES`), and the same NACK again at once nothing.
    subscriber = Subscriber()
    down = await subscriber.connect()
    subscriber.packet(keyframe=True)
    for _ in range(12):
        subscriber.packet(size=1000)
    sent = subscriber.transport.headers()
    subscriber.peer.repair_bps = 2_000.0
    lost = [header.sequence_number for header in sent[1:11]]
    subscriber.transport.on_rtcp(nack(down.ssrc, lost))
    peer = subscriber.peer
    assert 1 <= peer.retransmissions <= REPAIR_BURST_MIN_BYTES // 1000 + 1
    assert peer.retransmissions + peer.unrepairable == 10
    repaired = peer.retransmissions
    subscriber.clock.advance(0.1)  # 25 bytes of budget later
    subscriber.transport.on_rtcp(nack(down.ssrc, lost))
    assert peer.retransmissions == repaired


async def test_a_squeezed_viewer_gets_one_picture_s_lost_packets_back_at_once() -> None:
    # A 200 kbit/s link with 15 kbit/s left for repairs (470 bytes a quarter second): the
    # three lost packets of the picture everything after it depends on are resent in answer
    # to one NACK, not one per NACK round (Firefox asks again every 100 ms or so and sends no
    # PLI: its quarter layer stayed undecodable for 2.5 s at one repair a round).
    subscriber = Subscriber()
    down = await subscriber.connect()
    subscriber.packet(keyframe=True)
    for _ in range(4):
        subscriber.packet(size=1000)
    sent = subscriber.transport.headers()
    subscriber.peer.repair_bps = 15_000.0
    subscriber.transport.on_rtcp(nack(down.ssrc, [header.sequence_number for header in sent[1:4]]))
    assert (subscriber.peer.retransmissions, subscriber.peer.unrepairable) == (3, 0)
