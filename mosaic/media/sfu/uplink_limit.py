"""A limit on what a publisher sends, set the moment its uplink is seen to overflow, and held.

A publisher's browser decides which simulcast layers to send from its own estimate, which the
SFU steers with REMB (its receiver-side estimate; the publish connection negotiates no
transport-wide numbers, so the browser has nothing else but the loss in receiver reports).
The loss-based estimate (`statistics.UplinkEstimate`) moves a few percent per second report:
an uplink squeezed from 2 Mbit/s to 700 kbit/s lost 40 % of every layer for about 4 s before
the browser dropped its top one, and every viewer's picture froze meanwhile, no layer being
clean enough to fall back to.

So, on the allocation ticks: over the last half second, video loss above `CONGESTED_LOSS`
means the uplink is full, and what arrived in that time is what it carries. The limit drops
at once to `LIMIT_SHARE` of that (sent as REMB right away: the browser then stops its top
layers, and what is left arrives clean), and it is *held*: it does not rise for `HOLD_S`,
twice that after each relapse (up to `MAX_HOLD_S`), because a limit creeping up lets the
browser resume a layer its uplink cannot carry (an experiment that capped without holding
still froze viewers for 2-3 s). After the hold the loss-based estimate grows again from the
limit, a few percent a second. While it holds, `layer_fits` tells which layers the browser is
about to stop, so that their viewers move before they freeze; for `SETTLE_S` after a cut
(`settling`) only the lowest layer counts, the one Chromium restarts first, and the limit is
not cut again meanwhile.

Pure and clocked by its caller: counters in, a decision out; no I/O.
"""

from __future__ import annotations

import math

SAMPLE_S = 0.25
WINDOW_SAMPLES = 2  # loss and arrivals over the last half second (two sample intervals)
CONGESTED_LOSS = 0.10
MIN_PACKETS = 30  # fewer packets than this in the window say nothing
LIMIT_SHARE = 0.85
HOLD_S = 4.0
MAX_HOLD_S = 16.0
RELAPSE_S = 10.0  # a congestion this soon after a hold ended doubles the next hold
# Chromium answers a deep REMB cut by sending no video at all for 0.5-0.75 s, then restarts
# its quarter layer first (with a keyframe) and the others a second or more later: a viewer
# moved to the middle layer at the cut waited a second for a keyframe that did not come.
SETTLE_S = 1.5
# A held limit is cut again at most this often: not while the browser is still answering the
# last cut, when what arrives (nothing for a moment) says nothing of what the link carries
# and the shaper's queue still drops what was sent before (a recut at 1 s sank the limit to
# the minimum and broke the quarter layer too).
RECUT_S = SETTLE_S


class UplinkLimit:
    """The held limit of one publish connection (``cap_bps``: inf while none holds)."""

    __slots__ = ("_cut_at", "_released_at", "_samples", "cap_bps", "held_until", "hold_s",
                 "minimum_bps")  # fmt: skip

    def __init__(self, minimum_bps: float) -> None:
        self.minimum_bps = minimum_bps
        self.cap_bps = math.inf
        self.held_until = -math.inf
        self.hold_s = HOLD_S
        self._released_at = -math.inf
        self._cut_at = -math.inf
        self._samples: list[tuple[float, int, int, int]] = []  # (time, expected, received, bytes)

    @property
    def holding(self) -> bool:
        return self.cap_bps != math.inf

    def sample(self, expected: int, received: int, octets: int, now: float) -> bool:
        """The publisher's video counters (packets expected and received, bytes received:
        cumulative over its streams); True when the limit was just cut (send REMB now)."""
        samples = self._samples
        if samples and now - samples[-1][0] < SAMPLE_S:
            return False
        if samples and (expected < samples[-1][1] or received < samples[-1][2]):
            samples.clear()  # a stream restarted or went: start over
        samples.append((now, expected, received, octets))
        if len(samples) > WINDOW_SAMPLES + 1:
            del samples[0]
        elif len(samples) <= WINDOW_SAMPLES:
            return False
        since, expected_before, received_before, octets_before = samples[0]
        packets = expected - expected_before
        lost = packets - (received - received_before)
        if packets < MIN_PACKETS or lost <= CONGESTED_LOSS * packets:
            return False
        arrived = (octets - octets_before) * 8 / (now - since)
        if not self.holding:
            relapse = now - self._released_at < RELAPSE_S
            self.hold_s = min(self.hold_s * 2, MAX_HOLD_S) if relapse else HOLD_S
            limit = LIMIT_SHARE * arrived
        elif now - self._cut_at < RECUT_S:
            self.held_until = now + self.hold_s
            return False  # the browser has not answered the last cut yet
        else:
            # Still losing under the limit: the link carries less still. What arrived is
            # the measure now (a second 0.85 x on top would ratchet on random loss).
            limit = arrived
        self.held_until = now + self.hold_s
        limit = max(limit, self.minimum_bps)
        if limit >= self.cap_bps:
            return False
        self.cap_bps = limit
        self._cut_at = now
        return True

    def apply(self, estimate_bps: float, now: float) -> float:
        """The REMB to send: the loss-based ``estimate_bps``, under the limit while it holds
        (the caller keeps its estimate under it too, so that after the hold it grows from
        the limit at its own pace instead of leaping back to where the uplink overflowed)."""
        if self.holding and now >= self.held_until:
            self.cap_bps = math.inf
            self._released_at = now
        return min(estimate_bps, self.cap_bps)

    def settling(self, now: float) -> bool:
        """Whether the browser is still answering the last cut (see `SETTLE_S`): only its
        lowest layer is worth waiting for meanwhile."""
        return self.holding and now - self._cut_at < SETTLE_S

    def layer_fits(self, cumulative_bps: float) -> bool:
        """Whether a layer whose rate, with those below it, is ``cumulative_bps`` fits the
        held limit (always, while none holds): one that does not is the browser's to stop."""
        return cumulative_bps <= self.cap_bps
