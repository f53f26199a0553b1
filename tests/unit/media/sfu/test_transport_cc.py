"""Transport-wide congestion control on a subscribe connection: every packet numbered and
remembered (`SendHistory`), the receiver's feedback, REMB and receiver reports handed to the
connection's `DownlinkEstimator`, whose estimate is `SubscribePeer.estimated_bps`."""

from __future__ import annotations

import gc
import time

import pytest

from mosaic.media.sfu.estimator import DownlinkEstimator, PacketResult
from mosaic.media.sfu.negotiation import DOWN_EXTENSIONS, TRANSPORT_CC
from mosaic.media.sfu.send_history import SendHistory
from mosaic.media.wire.rtcp import (
    ReceiverReport,
    Remb,
    ReportBlock,
    dlsr_from_seconds,
    ntp_from_unix,
    ntp_middle,
)
from mosaic.media.wire.sdp import parse_sdp
from mosaic.media.wire.twcc import TransportFeedback
from tests.helpers.sfu import nack, subscribe_answer
from tests.helpers.subscriber import Subscriber

# -- the history -------------------------------------------------------------------------------


def test_feedback_gives_send_time_size_and_arrival_of_each_packet() -> None:
    history = SendHistory(16)
    numbers = [history.sent(1000 + i, 10.0 + i / 100) for i in range(4)]
    assert numbers == [0, 1, 2, 3]
    # Reference 2 (128 ms); deltas in 250 µs: +4 (1 ms), packet 1 lost, +8, -4.
    feedback = TransportFeedback.from_deltas(1, 2, 0, 2, 0, [4, None, 8, -4])
    assert history.results(feedback) == [
        PacketResult(0, 10.0, 1000, pytest.approx(0.129)),
        PacketResult(1, 10.01, 1001, None),
        PacketResult(2, 10.02, 1002, pytest.approx(0.131)),
        PacketResult(3, 10.03, 1003, pytest.approx(0.130)),
    ]


def test_numbers_wrap_at_16_bits_and_feedback_across_the_wrap_finds_them() -> None:
    history = SendHistory(16)
    history.next = 65534  # as after 65,534 packets
    assert [history.sent(100, 1.0) for _ in range(4)] == [65534, 65535, 0, 1]
    feedback = TransportFeedback.from_deltas(1, 2, 65535, 0, 0, [1, 1, 1])
    assert [r.sequence for r in history.results(feedback)] == [65535, 65536, 65537]


def test_numbers_no_longer_held_or_never_sent_are_left_out() -> None:
    history = SendHistory(16)
    for _ in range(40):
        history.sent(100, 1.0)  # 0..39; the ring holds 24..39
    feedback = TransportFeedback.from_deltas(1, 2, 20, 0, 0, [4] * 30)  # claims 20..49
    results = history.results(feedback)
    assert [r.sequence for r in results] == list(range(24, 40))
    # The deltas of 20..23, left out, still move the arrival clock: 24 arrived 5 x 1 ms in.
    assert results[0].arrival_time == pytest.approx(0.005)
    assert SendHistory(16).results(feedback) == []


def test_a_feedback_claiming_65535_packets_costs_no_more_than_the_ring() -> None:
    history = SendHistory()
    for _ in range(5000):
        history.sent(1200, 1.0)
    claim = TransportFeedback.from_deltas(1, 2, 0, 0, 0, [None] * 0xFFFF)
    claim = TransportFeedback(1, 2, 0, 0, 0, claim.statuses, [])
    gc.collect()  # the ring's cost is measured, not a full collection that falls inside it
    start = time.perf_counter()
    results = history.results(claim)
    assert time.perf_counter() - start < 0.01
    assert len(results) == history.capacity


def test_the_capacity_is_a_power_of_two() -> None:
    with pytest.raises(ValueError):
        SendHistory(1000)


# -- the subscriber ----------------------------------------------------------------------------


class Recording(DownlinkEstimator):
    """The real estimator, and what the connection handed it."""

    def __init__(self) -> None:
        super().__init__()
        self.feedback: list[list[PacketResult]] = []
        self.rembs: list[int] = []
        self.reports: list[tuple[float, float | None]] = []

    def on_transport_feedback(self, results: list[PacketResult], now: float) -> None:
        self.feedback.append(results)
        super().on_transport_feedback(results, now)

    def on_remb(self, bps: int, now: float, sent_bps: float | None = None) -> None:
        self.rembs.append(bps)
        super().on_remb(bps, now, sent_bps)

    def on_receiver_report(self, fraction_lost: float, rtt_s: float | None, now: float) -> None:
        self.reports.append((fraction_lost, rtt_s))
        super().on_receiver_report(fraction_lost, rtt_s, now)


async def test_the_offer_asks_for_transport_wide_feedback_on_audio_and_video() -> None:
    subscriber = Subscriber()
    subscriber.peer.add_slot("audio")
    await subscriber.connect()
    for section in parse_sdp(subscriber.offers[-1]).media:
        assert section.extmap_id(TRANSPORT_CC) == DOWN_EXTENSIONS.transport_cc
        assert "transport-cc" in section.codecs[0].rtcp_fb
    assert subscriber.peer.transport_cc  # the answer kept it


async def test_every_packet_sent_and_every_retransmission_gets_the_next_number() -> None:
    subscriber = Subscriber()
    down = await subscriber.connect()
    subscriber.packet(keyframe=True)
    for _ in range(4):
        subscriber.packet()
    first = subscriber.transport.headers()
    assert [h.transport_sequence for h in first] == [0, 1, 2, 3, 4]
    subscriber.transport.on_rtcp(nack(down.ssrc, [first[2].sequence_number]))
    rtx = subscriber.transport.headers()[-1]
    assert rtx.ssrc == down.rtx_ssrc and rtx.transport_sequence == 5
    assert subscriber.peer.history.next == 6


async def test_feedback_reaches_the_estimator_as_packet_results() -> None:
    subscriber = Subscriber()
    estimator = subscriber.peer.estimator = Recording()
    await subscriber.connect()
    subscriber.packet(keyframe=True)
    subscriber.packet()
    subscriber.packet()
    sizes = [len(data) for data in subscriber.transport.sent_rtp]
    feedback = TransportFeedback.from_deltas(5, 0, 0, 100, 0, [0, None, 132])
    subscriber.transport.on_rtcp(feedback.serialize())
    assert subscriber.peer.transport_feedbacks == 1
    [results] = estimator.feedback
    assert [(r.sequence, r.size) for r in results] == list(enumerate(sizes))
    assert [r.arrival_time for r in results] == [6.4, None, pytest.approx(6.433)]
    assert results[1].send_time - results[0].send_time == pytest.approx(0.033)


async def test_remb_and_receiver_reports_feed_the_estimate_when_there_is_no_feedback() -> None:
    """What the Python client (aiortc) sends: REMB and receiver reports, no transport-cc."""
    subscriber = Subscriber()
    estimator = subscriber.peer.estimator = Recording()
    down = await subscriber.connect()
    subscriber.transport.on_rtcp(Remb(1, 450_000, [down.ssrc]).serialize())
    sent = ntp_from_unix(time.time() - 0.25)  # a sender report of ours, 250 ms ago...
    block = ReportBlock(down.ssrc, 26, 3, 200, 0, ntp_middle(sent), dlsr_from_seconds(0.2))
    subscriber.transport.on_rtcp(ReceiverReport(1, [block]).serialize())  # ...held 200 ms
    assert estimator.rembs == [450_000] and subscriber.peer.rembs == 1
    [(loss, rtt)] = estimator.reports
    assert loss == pytest.approx(26 / 256) and rtt == pytest.approx(0.05, abs=0.01)
    assert subscriber.peer.estimated_bps == estimator.target_bps
    # The round trip also goes to the connection's quality (router `_conditions`).
    assert subscriber.peer.rtt_s == pytest.approx(0.05, abs=0.01)


async def test_malformed_feedback_is_dropped_without_touching_the_estimate() -> None:
    subscriber = Subscriber()
    estimator = subscriber.peer.estimator = Recording()
    await subscriber.connect()
    broken = bytearray(TransportFeedback.from_deltas(5, 0, 0, 1, 0, [1, 2, 3]).serialize())
    broken[14:16] = b"\x00\x00"  # a status count of 0
    subscriber.transport.on_rtcp(bytes(broken))
    assert estimator.feedback == [] and subscriber.peer.transport_feedbacks == 0


def without_transport_cc(answer_sdp: str, kinds: set[str]) -> str:
    answer = parse_sdp(answer_sdp)
    for section in answer.media:
        if section.kind in kinds:
            section.extmaps = [e for e in section.extmaps if e.uri != TRANSPORT_CC]
    return str(answer)


@pytest.mark.parametrize(
    ("dropped", "numbered"),
    [
        ({"audio"}, {"audio": False, "video": True}),  # Firefox
        ({"audio", "video"}, {"audio": False, "video": False}),  # aiortc
    ],
)
async def test_only_sections_whose_answer_kept_the_extension_are_numbered(
    dropped: set[str], numbered: dict[str, bool]
) -> None:
    """A receiver that does not read the number on a section reports each of its packets
    lost: numbering Firefox's audio made 117 of 126 packets look lost."""
    subscriber = Subscriber()
    peer = subscriber.peer
    peer.add_slot("audio")
    video = peer.add_slot("video")
    video.assign(subscriber.track)
    video.want(subscriber.stream, subscriber.clock())
    await peer.negotiate()
    await peer.answer(without_transport_cc(subscribe_answer(subscriber.offers[-1]), dropped))
    subscriber.transport.connect()
    assert {down.kind: down.numbered for down in peer.slots} == numbered
    subscriber.packet(keyframe=True)
    subscriber.packet()
    assert peer.history.next == (2 if numbered["video"] else 0)
    assert peer.transport_cc == numbered["video"]
