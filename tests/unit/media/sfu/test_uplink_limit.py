"""The held uplink limit (mosaic/media/sfu/uplink_limit.py) on synthetic counters: a publisher
whose uplink overflows is told at once what arrives, the limit holds (a creeping one let the
browser resume a layer its uplink cannot carry), and random loss does not ratchet it down
faster than once a second."""

from __future__ import annotations

import itertools
import math

from mosaic.media.sfu.uplink_limit import HOLD_S, LIMIT_SHARE, SETTLE_S, UplinkLimit


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
