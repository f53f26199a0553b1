"""The held uplink limit (mosaic/media/sfu/uplink_limit.py) on synthetic counters: a publisher
whose uplink overflows is told at once what arrives, the limit holds (a creeping one let the
browser resume a layer its uplink cannot carry), and random loss does not ratchet it down
faster than once a second."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from mosaic.media.sfu.publisher import DELAY_PACKETS, DELAY_RECENT_S
from mosaic.media.sfu.uplink_limit import (
    HOLD_S,
    LIMIT_SHARE,
    LOWEST_HEADROOM,
    SAMPLE_S,
    SETTLE_S,
    QueueDelay,
    UplinkLimit,
)


class Uplink:
    """Cumulative video counters of a publisher that sends ``pps`` packets of 1,000 bytes
    a second and loses ``loss`` of them."""

    def __init__(self) -> None:
        self.expected = self.received = self.octets = 0
        self.now = 0.0

    def run(self, limit: UplinkLimit, seconds: float, pps: int, loss: float) -> list[float]:
        """Sample every 50 ms (the router's ticks); returns when the limit was cut."""
        cuts = []
        carried = float(self.received)
        for _ in range(round(seconds / 0.05)):
            self.now = round(self.now + 0.05, 3)
            sent = pps * 0.05
            self.expected += round(sent)
            carried += sent * (1 - loss)
            arrived = int(carried) - self.received
            self.received += arrived
            self.octets += arrived * 1000
            if limit.sample(self.expected, self.received, self.octets, self.now):
                cuts.append(self.now)
        return cuts


def test_an_overflowing_uplink_is_limited_at_once_to_what_arrives() -> None:
    """2 Mbit/s sent into a link that carries 1.2: the limit is cut within half a second,
    under what was sent, and within two seconds to what the link carries."""
    limit, uplink = UplinkLimit(150_000), Uplink()
    assert uplink.run(limit, 3.0, 250, 0.0) == []  # clean: no limit
    assert not limit.holding and limit.apply(2_500_000, uplink.now) == 2_500_000
    cuts = uplink.run(limit, 0.5, 250, 0.4)
    assert cuts and cuts[0] - 3.0 <= 0.5, cuts
    assert limit.cap_bps <= LIMIT_SHARE * 2_000_000
    assert limit.apply(2_500_000, uplink.now) == limit.cap_bps
    uplink.run(limit, 1.5, 250, 0.4)  # the browser has not answered yet: still sends 2 M
    carried = 250 * 0.6 * 8000
    assert LIMIT_SHARE * carried <= limit.cap_bps <= carried * 1.01


def test_the_limit_holds_after_the_loss_stops_then_lets_go() -> None:
    limit, uplink = UplinkLimit(150_000), Uplink()
    uplink.run(limit, 3.0, 250, 0.0)
    uplink.run(limit, 0.6, 250, 0.4)
    cap = limit.cap_bps
    uplink.run(limit, HOLD_S - 1.0, 100, 0.0)  # the browser dropped its top layer
    assert limit.apply(2_500_000, uplink.now) == cap  # held, not creeping
    uplink.run(limit, 1.5, 100, 0.0)
    assert limit.apply(2_500_000, uplink.now) == 2_500_000 and not limit.holding


def test_a_relapse_soon_after_a_hold_doubles_the_next_hold() -> None:
    limit, uplink = UplinkLimit(150_000), Uplink()
    uplink.run(limit, 3.0, 250, 0.0)
    uplink.run(limit, 0.6, 250, 0.4)
    uplink.run(limit, HOLD_S + 0.5, 100, 0.0)
    limit.apply(2_500_000, uplink.now)
    assert not limit.holding
    uplink.run(limit, 0.6, 250, 0.4)  # the top layer came back and overflowed again
    assert limit.holding and limit.hold_s == 2 * HOLD_S


def test_random_loss_under_the_limit_cuts_at_most_once_a_second() -> None:
    """15 % loss that does not go away (a bad radio, not a full link) keeps cutting, but
    to what arrived, once a second: as slowly as the loss-based estimate it replaces, not
    by 15 % every quarter second."""
    limit, uplink = UplinkLimit(150_000), Uplink()
    uplink.run(limit, 3.0, 250, 0.0)
    cuts = uplink.run(limit, 3.0, 250, 0.15)
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(cuts)), cuts
    assert limit.cap_bps >= 0.5 * 250 * 8000 * 0.85


def test_the_limit_never_goes_below_the_minimum() -> None:
    limit, uplink = UplinkLimit(150_000), Uplink()
    uplink.run(limit, 3.0, 80, 0.0)
    uplink.run(limit, 5.0, 80, 0.8)  # 128 kbit/s arrive
    assert limit.cap_bps == 150_000
    assert math.isinf(UplinkLimit(150_000).cap_bps)


def test_while_the_browser_answers_a_cut_only_its_lowest_layer_counts_and_no_recut() -> None:
    """Chromium answers a deep cut with no video for 0.5-0.75 s, then its quarter layer first:
    viewers moved to a middle layer waited a second more for a keyframe that did not come, and
    a recut a second later read that silence (and the drops of the shaper's queue, still full of
    what was sent before) as the link's rate and sank the limit to the minimum."""
    limit, uplink = UplinkLimit(150_000), Uplink()
    uplink.run(limit, 3.0, 250, 0.0)
    cuts = uplink.run(limit, 0.5, 250, 0.4)
    assert len(cuts) == 1 and limit.settling(uplink.now)
    cap = limit.cap_bps
    # Nearly silent, and what comes is still lost: not a measure of the link.
    assert uplink.run(limit, SETTLE_S - (uplink.now - cuts[0]) - 0.05, 100, 0.5) == []
    assert limit.cap_bps == cap and limit.settling(uplink.now)
    assert not limit.settling(cuts[0] + SETTLE_S + 0.01) and limit.holding


def _send_time(seconds: float) -> int:
    """abs-send-time of a packet sent at ``seconds`` on the browser's clock (6.18, 24 bits)."""
    return int(seconds * (1 << 18)) & 0xFFFFFF


class Bottleneck:
    """A browser sending ``pps`` packets of 1,000 bytes a second through a FIFO link that
    carries ``kbps`` and queues up to half a second (as tests/helpers/netlab.py shapes one):
    the counters the limit reads as the packets arrive (a lost one counts when the next one
    shows the gap), and their send and arrival times. The browser's clock is 50 s ahead of
    ours (it wraps 14 s in)."""

    def __init__(self, seed: int = 0) -> None:
        self.expected = self.received = self.octets = 0
        self.now = 0.0
        self.queued = 0.0  # bytes in the link's queue
        self.delay = QueueDelay()
        self.random = random.Random(seed)
        self.last_sample = 0.0
        self.lost_before_cut: int | None = None
        self.flight: list[tuple[float, bool, int]] = []  # (arrival, arrives, send time)

    def run(
        self,
        limit: UplinkLimit,
        seconds: float,
        pps: int,
        kbps: float = math.inf,
        *,
        loss: float = 0.0,
        jitter_s: float = 0.0,
        late_s: float = 0.0,
        lowest_bps: float = math.inf,
    ) -> list[float]:
        """Every 10 ms: the link drains, the browser sends, what is due arrives; every
        250 ms the limit samples (as `PublishPeer` does). ``late_s``: every packet was
        stamped that long before it left (a browser that stalled) or, alike, read that long
        after it came (a busy server); returns when the limit was cut."""
        cuts = []
        rate = kbps * 1000 / 8  # bytes a second
        buffer = rate * 0.5
        owed = 0.0
        recent: list[tuple[int, float]] = []
        for _ in range(round(seconds / 0.01)):
            self.now = round(self.now + 0.01, 3)
            self.queued = max(0.0, self.queued - rate * 0.01)
            owed += pps * 0.01
            while owed >= 1:
                owed -= 1
                dropped = self.queued + 1000 > buffer or self.random.random() < loss
                if not dropped:
                    self.queued += 1000
                arrival = self.now + self.queued / rate + jitter_s * self.random.random()
                stamped = self.now - late_s + 50.0
                self.flight.append((arrival, not dropped, _send_time(stamped)))
            while self.flight and self.flight[0][0] <= self.now:
                arrival, arrives, send_time = self.flight.pop(0)
                self.expected += 1
                if arrives:
                    self.received += 1
                    self.octets += 1000
                    recent.append((send_time, arrival))
            if self.now - self.last_sample >= SAMPLE_S - 1e-9:
                self.last_sample = self.now
                # What `PublishPeer` reads: the newest of three layers, the last 100 ms.
                for send_time, arrival in recent[-3 * DELAY_PACKETS :]:
                    if arrival > self.now - DELAY_RECENT_S:
                        self.delay.add(send_time, arrival)
                recent.clear()
                queue = self.delay.sample()
                cut = limit.sample(
                    self.expected, self.received, self.octets, self.now, queue, lowest_bps
                )
                if cut:
                    cuts.append(self.now)
                    if self.lost_before_cut is None:
                        self.lost_before_cut = self.expected - self.received
        return cuts


def test_the_queue_delay_is_measured_against_the_fastest_lately_across_the_clock_wrap() -> None:
    """Arrival less send time, whatever the two clocks' offset and across the 64 s wrap of
    abs-send-time: 0 while nothing queues, then the queue."""
    delay = QueueDelay()
    assert delay.sample() is None
    for second in range(20):  # the send clock wraps at 64 s: 60 to 80 crosses it
        for tick in range(4):
            sent = 60.0 + second + tick * 0.25
            delay.add(_send_time(sent), 1000.0 + sent + 0.02)
            queued = delay.sample()
            assert queued is not None and abs(queued) < 0.001, (sent, queued)
    delay.add(_send_time(80.5), 1000.0 + 80.5 + 0.02 + 0.3)
    delay.add(_send_time(80.6), 1000.0 + 80.6 + 0.02 + 0.2)  # the fastest of the interval
    assert abs(delay.sample() - 0.2) < 0.001  # type: ignore[operator]


def test_a_growing_queue_is_cut_before_anything_is_lost() -> None:
    """1.2 Mbit/s into a 700 kbit/s link with half a second of queue: its first loss comes
    0.7 s in and reaches the server 0.5 s later; the queue is seen growing on two samples
    by 0.5 s, and the limit cut while nothing is lost yet, under what the link carries."""
    limit, link = UplinkLimit(150_000), Bottleneck()
    assert link.run(limit, 3.0, 150) == []
    cuts = link.run(limit, 1.0, 150, kbps=700)
    assert cuts and cuts[0] - 3.0 <= 0.5, cuts
    assert link.lost_before_cut == 0
    assert limit.cap_bps <= LIMIT_SHARE * 700_000 * 1.01


def test_one_late_sample_is_no_queue() -> None:
    """A server that read one quarter second of packets 300 ms late (a busy event loop) has
    seen no queue: no cut."""
    limit, link = UplinkLimit(150_000), Bottleneck()
    link.run(limit, 3.0, 150)
    assert link.run(limit, 0.25, 150, late_s=0.3) == []
    assert link.run(limit, 3.0, 150) == []
    assert not limit.holding


@pytest.mark.parametrize("seed", range(5))
def test_random_loss_and_jitter_without_a_queue_never_cut(seed: int) -> None:
    """5 % random loss and up to 60 ms of jitter on a link with room to spare, for 30 s: the
    loss is NACK's to repair and the jitter is no queue; the limit is never cut."""
    limit, link = UplinkLimit(150_000), Bottleneck(seed)
    assert link.run(limit, 30.0, 150, kbps=5_000, loss=0.05, jitter_s=0.06) == []


def test_the_first_cut_leaves_room_for_the_lowest_layers_only() -> None:
    """The squeezed link's one FIFO drops every layer alike while it is full: the first cut
    lets the browser keep only its lowest layers (2.5 x what they send), not its middle one,
    so that the queue drains and the lowest layer arrives whole."""
    limit, link = UplinkLimit(150_000), Bottleneck()
    link.run(limit, 3.0, 150, lowest_bps=100_000)
    cuts = link.run(limit, 1.0, 150, kbps=700, lowest_bps=100_000)
    assert cuts and limit.cap_bps == LOWEST_HEADROOM * 100_000


def test_a_browser_that_stalled_and_caught_up_is_no_queue() -> None:
    """Seen on a machine short of CPU: a browser's packets came 0.59 s, then 0.35 s later than
    their send times, with nothing on its link (it stamped them, stalled, and sent them all
    at once). A queue that shrinks is no overflow: no cut."""
    limit, link = UplinkLimit(150_000), Bottleneck()
    link.run(limit, 3.0, 150)
    assert link.run(limit, 0.25, 150, late_s=0.59) == []
    assert link.run(limit, 0.25, 150, late_s=0.35) == []
    assert link.run(limit, 2.0, 150) == []
    assert not limit.holding


def test_no_queue_is_read_while_the_samples_themselves_come_late() -> None:
    """Seen at a meeting's start on a loaded machine: the server's ticks came 1.2 s apart,
    then the send times read 0.82, 0.55, 0.67 and 0.76 s, growing at the end, with nothing
    on the link. A sample that comes late says more of the CPU than of the link: no queue
    is read for a second after it, and the limit is not cut."""
    limit = UplinkLimit(150_000)
    now, packets = 0.0, 0
    readings = [0.0] * 12 + [0.82, 0.55, 0.67, 0.76]
    cuts = []
    for index, queue in enumerate(readings):
        now += 1.2 if index == 12 else 0.25
        packets += 40
        if limit.sample(packets, packets, packets * 1000, now, queue):
            cuts.append(now)
    assert cuts == []
    # The same readings on steady ticks are a queue.
    limit, now, packets = UplinkLimit(150_000), 0.0, 0
    for queue in readings:
        now += 0.25
        packets += 40
        if limit.sample(packets, packets, packets * 1000, now, queue):
            cuts.append(now)
    assert cuts


def test_a_queue_read_while_almost_nothing_arrives_is_a_stalled_browser() -> None:
    """Also seen on a loaded machine: 0.14 s, then 0.47 s, while a single packet came in the
    last quarter second (the browser had stalled; what it had stamped came late). A full link
    still delivers at its rate: no cut."""
    limit, now, packets = UplinkLimit(150_000), 0.0, 0
    for queue, arrived in [(0.0, 40)] * 12 + [(0.14, 12), (0.47, 1)]:
        now += 0.25
        packets += arrived
        assert not limit.sample(packets, packets, packets * 1000, now, queue)
