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

The queue fills before it drops: an uplink of 700 kbit/s with half a second of buffer, fed
1.2 Mbit/s, queues for 0.7 s before its first loss, and the loss is seen 0.5 s later still
(the queue delays it), so that the cut came 1.2 s into the squeeze, when every layer had
already been losing for a while and the viewers' pictures had frozen. `QueueDelay` sees the
queue grow from the publisher's own send times (abs-send-time), sampled on the ticks from the
newest cached packets (nothing per packet): a queue of `QUEUED_S` or more on `QUEUED_SAMPLES`
samples in a row is the same overflow, answered by the same cut, before anything is lost.

Pure and clocked by its caller: counters in, a decision out; no I/O.
"""

from __future__ import annotations

import math

SAMPLE_S = 0.25
# A tick this much early still samples: ticks every 50 ms, a little late each time, made the
# samples 0.3 s apart.
SAMPLE_EARLY_S = 0.02
WINDOW_SAMPLES = 2  # loss and arrivals over the last half second (two sample intervals)
CONGESTED_LOSS = 0.10
# ... with a queue (see `QueueDelay`); without one, loss must be this heavy: 5 % random loss
# went over 10 % in one half second of 75 packets every ten seconds or so, and was cut for.
HEAVY_LOSS = 0.25
MIN_PACKETS = 30  # fewer packets than this in the window say nothing of loss
# A queue is judged by the last interval only if this many packets arrived in it: a full
# link still delivers (a 700 kbit/s one, 20 in a quarter second), a browser that stalled
# does not (one packet came, 0.47 s late, and read as a queue).
MIN_QUEUED_PACKETS = 8
LIMIT_SHARE = 0.85
# The first cut leaves room for the lowest layers only (this many times what they send):
# the tc queue of a squeezed uplink is one FIFO for every layer, so a cut that let the
# browser keep its middle layer kept the queue full and the lowest layer losing with the
# rest for 1.5 s more (its viewers froze); the middle layer comes back as the limit grows
# again after the hold.
LOWEST_HEADROOM = 2.5
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
# The uplink queues when its packets take this much longer than the fastest lately ...
QUEUED_S = 0.08
# ... on this many samples in a row, the last one more than the one before: one late read,
# or one keyframe's burst, is no queue, and on a machine short of CPU a browser that stalled
# showed 0.59 s then 0.35 s with nothing on its link. (Three samples in a row cut only when
# the queue was full, 0.25 s later: the viewer's freeze grew from 0.3 s to 1.2-1.8 s.)
QUEUED_SAMPLES = 2
# No queue is read for this long after a sample came late (a tick this much behind): the
# server was short of CPU, and the send times then say more of that than of the link.
# (During a meeting's start on a loaded machine the server's ticks came 1.2 s apart, then
# 0.67 s and 0.76 s read as a queue, and the cut took the full layer for a minute.)
UNSTEADY_S = 1.0
LATE_SAMPLE_S = 0.4
# The fastest lately: over this many samples (10 s), so that a queue that lasts is not taken
# for the floor, and the floor still follows a path that changed.
FLOOR_SAMPLES = 40
_SEND_TIME_WRAP = 64.0  # abs-send-time: 6.18 fixed-point seconds, 24 bits
_SEND_TIME_UNIT = 1 / (1 << 18)


class QueueDelay:
    """How much longer than lately the publisher's packets take to arrive: their arrival
    less their abs-send-time (the browser's send clock), against the fastest of the last
    `FLOOR_SAMPLES` samples, so the two clocks' offset cancels. `add` some packets (the
    newest of each layer), then `sample` once per interval: the fastest packet of an
    interval tells its queue, the others were late for reasons of their own (pacing, a
    server that read them late)."""

    __slots__ = ("_fastest", "_floors", "_reference")

    def __init__(self) -> None:
        self._reference: float | None = None
        self._fastest = math.inf
        self._floors: list[float] = []

    def add(self, send_time: int, arrival: float) -> None:
        """One packet: its 24-bit abs-send-time and when it arrived (seconds)."""
        transit = arrival - send_time * _SEND_TIME_UNIT
        if self._reference is None:
            self._reference = transit
        # The send clock wraps every 64 s: transit is kept within half a wrap of the first.
        half = _SEND_TIME_WRAP / 2
        transit = (transit - self._reference + half) % _SEND_TIME_WRAP - half
        self._fastest = min(self._fastest, transit)

    def sample(self) -> float | None:
        """The queue (seconds) of the packets added since the last sample; None without any."""
        fastest, self._fastest = self._fastest, math.inf
        if fastest == math.inf:
            return None
        floors = self._floors
        floors.append(fastest)
        if len(floors) > FLOOR_SAMPLES:
            del floors[0]
        return fastest - min(floors)


class UplinkLimit:
    """The held limit of one publish connection (``cap_bps``: inf while none holds)."""

    __slots__ = ("_cut_at", "_last_queue", "_queued", "_released_at", "_samples",
                 "_steady_from", "cap_bps", "held_until", "hold_s", "minimum_bps")  # fmt: skip

    def __init__(self, minimum_bps: float) -> None:
        self.minimum_bps = minimum_bps
        self.cap_bps = math.inf
        self.held_until = -math.inf
        self.hold_s = HOLD_S
        self._released_at = -math.inf
        self._cut_at = -math.inf
        self._queued = 0  # samples in a row that saw a queue (see `QueueDelay`)
        self._last_queue = 0.0
        self._steady_from = -math.inf  # queues are read from then on (see `UNSTEADY_S`)
        self._samples: list[tuple[float, int, int, int]] = []  # (time, expected, received, bytes)

    @property
    def holding(self) -> bool:
        return self.cap_bps != math.inf

    def sample(
        self,
        expected: int,
        received: int,
        octets: int,
        now: float,
        queue_s: float | None = None,
        lowest_bps: float = math.inf,
    ) -> bool:
        """The publisher's video counters (packets expected and received, bytes received:
        cumulative over its streams), its queue (`QueueDelay.sample`, None if unknown) and
        what its lowest layers send (bit/s); True when the limit was just cut (send REMB
        now)."""
        samples = self._samples
        if samples and now - samples[-1][0] < SAMPLE_S - SAMPLE_EARLY_S:
            return False
        if samples and (expected < samples[-1][1] or received < samples[-1][2]):
            samples.clear()  # a stream restarted or went: start over
        if samples and now - samples[-1][0] > LATE_SAMPLE_S:
            self._steady_from = now + UNSTEADY_S
        samples.append((now, expected, received, octets))
        queue = queue_s if queue_s is not None else 0.0
        queued = queue >= QUEUED_S
        self._queued = self._queued + 1 if queued else 0
        growing = queued and queue > self._last_queue
        self._last_queue = queue
        if len(samples) > WINDOW_SAMPLES + 1:
            del samples[0]
        elif len(samples) <= WINDOW_SAMPLES:
            return False
        since, expected_before, received_before, octets_before = samples[0]
        packets = expected - expected_before
        lost = packets - (received - received_before)
        # Loss on a link that does not queue is random loss (NACK repairs it), unless it is
        # heavy: a policer drops without queueing. Where the queue is not known, loss alone.
        queue_known = queue_s is not None
        congested = HEAVY_LOSS if queue_known and not queued else CONGESTED_LOSS
        if packets >= MIN_PACKETS and lost > congested * packets:
            arrived = (octets - octets_before) * 8 / (now - since)
        elif (
            self._queued >= QUEUED_SAMPLES
            and growing
            and received - samples[-2][2] >= MIN_QUEUED_PACKETS
            and now >= self._steady_from
        ):
            # Queued throughout the last interval, more and more: the link was busy, so what
            # arrived in it is what the link carries (too few packets to judge loss by, at
            # times).
            middle, _, _, octets_middle = samples[-2]
            arrived = (octets - octets_middle) * 8 / (now - middle)
        else:
            return False
        if not self.holding:
            relapse = now - self._released_at < RELAPSE_S
            self.hold_s = min(self.hold_s * 2, MAX_HOLD_S) if relapse else HOLD_S
            limit = min(LIMIT_SHARE * arrived, LOWEST_HEADROOM * lowest_bps)
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
