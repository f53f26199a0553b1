"""How many bits per second the link to one receiver carries now: a delay- and loss-based
estimate from what that receiver reports, in the lineage of Google Congestion Control
(draft-ietf-rmcat-gcc-02, "GCC"), computed on the sending side as libwebrtc does since
transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

Why both signals. A queue that grows in front of a slow link shows as delay long before it
shows as loss (a deep "bufferbloated" buffer may never drop at all), so the delay-based part
reacts first and keeps the queue short. Delay says nothing when a policer drops what exceeds
its rate without queueing, so the loss-based part catches that. Loss alone is not congestion:
Wi-Fi and mobile links lose packets at random, NACK repairs them, and a controller that backs
off on every loss would starve such viewers; hence a band (2-10 %) in which loss holds the rate.

The pieces: the delay-based half in `delay_based` (arrival groups, trendline, adaptive
threshold, AIMD controller, delivered rate); here the loss-based half (``_LossWindow``,
``_LossControl``: §6, from transport feedback or receiver reports) and ``DownlinkEstimator``,
which feeds both and combines them.

The result is the smaller of the two, capped by the receiver's REMB when it sends one. It
runs per feedback packet (every 50-100 ms per viewer), never per RTP packet.

Clocks: ``now`` and ``PacketResult.send_time`` are the SFU's clock, in seconds (the same
monotonic clock); ``arrival_time`` is the receiver's, whose offset is unknown: only
differences between arrivals are used.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from mosaic.media.sfu.delay_based import (
    INCREASE_PER_S,
    AckedRate,
    AimdControl,
    ArrivalGroups,
    OveruseDetector,
    State,
    Trendline,
)

__all__ = ["MAX_BPS", "MIN_BPS", "START_BPS", "DownlinkEstimator", "PacketResult", "State"]

START_BPS = 1_000_000
MIN_BPS = 30_000
MAX_BPS = 20_000_000

PROBE_RATIO = 1.5  # a delivered rate this far above the target is a probe's: it counts
LOSS_HIGH, LOSS_LOW = 0.10, 0.02  # loss-based: decrease above, increase below, hold between
LOSS_MIN_PACKETS = 20  # transport feedback's loss is judged over at least this many packets
LOSS_WINDOW_S = 1.0  # ... and at most this long, unless the evidence is clear sooner
TWCC_FRESH_S = 2.0  # transport feedback this recent makes receiver-report loss redundant
REMB_FRESH_S = 5.0  # a REMB caps the estimate this long after it came
# A REMB-only receiver (aiortc) is congested when its REMB fell and, from then on for
# ``REMB_UNDER_S``, stays under this share of what was sent on the streams it covers.
REMB_UNDER_SHARE = 0.5
REMB_UNDER_S = 1.0
REMB_FALL = 0.95  # a REMB this much below the one before it is a fall


@dataclass(slots=True, frozen=True)
class PacketResult:
    """One sent packet as transport-wide feedback describes it: its transport-wide sequence
    number, when the SFU sent it and how many bytes, when it arrived (None: reported lost).
    Times are seconds: ``send_time`` on the SFU's clock, ``arrival_time`` on the receiver's
    (only differences between arrivals are meaningful)."""

    sequence: int
    send_time: float
    size: int
    arrival_time: float | None


class _LossWindow:
    """Loss from transport feedback, counted until it says something. A 5 % random loss
    seen over 20 packets reads above 10 % one time in thirteen; the hold band does not undo
    a decrease, so each such reading would ratchet the rate down for good. A window closes
    early only when the loss is clearly (two standard errors) outside the band -- a policer
    cutting 80 % is acted on within a feedback or two -- and otherwise after
    ``LOSS_WINDOW_S``, when a reading above the band counts only if it is one standard
    error clear of it."""

    __slots__ = ("_expected", "_lost", "_start")

    def __init__(self) -> None:
        self._expected = self._lost = 0
        self._start = 0.0

    def add(self, expected: int, lost: int, now: float) -> float | None:
        """Counts one feedback's packets; returns the loss fraction to act on, if any yet."""
        if self._expected == 0:
            self._start = now
        self._expected += expected
        self._lost += lost
        if self._expected < LOSS_MIN_PACKETS:
            return None
        loss = self._lost / self._expected
        error = math.sqrt(loss * (1 - loss) / self._expected)
        ended = now - self._start >= LOSS_WINDOW_S
        if not (ended or loss - 2 * error > LOSS_HIGH or loss + 2 * error < LOSS_LOW):
            return None
        self._expected = self._lost = 0
        if loss > LOSS_HIGH and loss - error <= LOSS_HIGH:
            return LOSS_HIGH  # not clearly above the band: hold
        return loss


class _LossControl:
    """The loss-based rate (§6): above ``LOSS_HIGH`` loss, multiply by (1 - loss/2), at most
    once per round trip + 300 ms; below ``LOSS_LOW``, grow 8 % a second from the lowest rate
    of the last second (so one lucky report does not compound); in between, hold."""

    __slots__ = ("_history", "_last_decrease", "bps", "state")

    def __init__(self, start_bps: float) -> None:
        self.bps = start_bps
        self.state: State = "hold"
        self._history: deque[tuple[float, float]] = deque()  # (time, bps), rising bps
        self._last_decrease = -math.inf

    def update(self, loss: float, rtt: float, now: float) -> None:
        while self._history and now - self._history[0][0] > 1.0:
            self._history.popleft()
        while self._history and self._history[-1][1] >= self.bps:
            self._history.pop()
        self._history.append((now, self.bps))
        if loss > LOSS_HIGH:
            if now - self._last_decrease >= rtt + 0.3:
                self.bps *= 1 - 0.5 * loss
                self._last_decrease = now
                self.state = "decrease"
            else:
                self.state = "hold"
        elif loss < LOSS_LOW:
            self.bps = max(self.bps, self._history[0][1] * INCREASE_PER_S + 1000)
            self.state = "increase"
        else:
            self.state = "hold"


class DownlinkEstimator:
    """The downlink estimate of one subscribe connection. Feed it what the receiver reports;
    read ``target_bps`` (what the allocation may spend) and ``state``.

    Sources, best first: transport-wide feedback (Chromium, Firefox) drives both the delay-
    and the loss-based parts; REMB (the receiver's own estimate) caps the result whenever it
    arrives; receiver-report loss drives the loss-based part only while no transport feedback
    comes (the Python client sends RR and REMB only)."""

    def __init__(
        self, start_bps: int = START_BPS, min_bps: int = MIN_BPS, max_bps: int = MAX_BPS
    ) -> None:
        self._min = float(min_bps)
        self._max = float(max_bps)
        self._groups = ArrivalGroups()
        self._trend = Trendline()
        self._detector = OveruseDetector()
        self._acked = AckedRate()
        self._delay = AimdControl(float(start_bps))
        self._loss = _LossControl(float(start_bps))
        self._remb: float | None = None
        self._remb_at = -math.inf
        self._remb_under_since: float | None = None
        self._remb_congested = False
        self._rtt = 0.1
        self._rtt_from_reports = False
        self._loss_reported = False
        self._last_twcc = -math.inf
        self._loss_window = _LossWindow()
        self._target = float(start_bps)
        self._state: State = "hold"
        self._last_decrease = -math.inf

    def on_transport_feedback(self, results: list[PacketResult], now: float) -> None:
        """One transport-wide feedback packet's packets (any order)."""
        if not results:
            return
        self._last_twcc = now
        received = [r for r in results if r.arrival_time is not None]
        received.sort(key=_arrival)
        usage = self._detector.usage
        newest_send = -math.inf
        for r in received:
            arrival = _arrival(r)
            self._acked.add(arrival, r.size)
            newest_send = max(newest_send, r.send_time)
            group = self._groups.add(r.send_time, arrival)
            if group is None:
                continue
            variation, send_delta, group_arrival = group
            slope = self._trend.update(variation * 1000.0, group_arrival)
            if slope is not None:
                usage = self._detector.detect(
                    slope, self._trend.deltas, send_delta * 1000.0, group_arrival
                )
        if received and not self._rtt_from_reports:
            # Feedback round trip: an upper bound of the path's (it includes the receiver's
            # batching, up to 100 ms); used only where receiver reports give none.
            self._rtt = 0.9 * self._rtt + 0.1 * min(max(now - newest_send, 0.0), 1.0)
        acked = self._acked.bps
        # Sending below the target (app-limited) is when the smoothed rate lags a probe.
        app_limited = acked is not None and acked < self._target
        cut_from = self._acked.for_decrease if app_limited else acked
        self._delay.update(usage, acked, self._rtt, now, cut_from)
        if (
            acked is not None
            and acked > PROBE_RATIO * self._target
            and usage == "normal"
            and self._loss.state != "decrease"
        ):
            # The receiver got far more than the target while the queue did not grow: the
            # link carries it. This is how a probe (padding or retransmissions for a second
            # above the target) earns its rate at once instead of at 8 % a second. The ratio
            # keeps a queue that still drains after a cut from counting: it delivers at the
            # link's capacity, ~1.18 x a target just cut to 0.85 x that.
            self._delay.bps = max(self._delay.bps, acked)
            self._loss.bps = max(self._loss.bps, acked)
        loss = self._loss_window.add(len(results), len(results) - len(received), now)
        if loss is not None:
            self._loss.update(loss, self._rtt, now)
        self._combine(now)

    def on_remb(self, bps: int, now: float, sent_bps: float | None = None) -> None:
        """The receiver's own estimate (REMB, draft-alvestrand-rmcat-remb): a cap on the
        others, and the estimate itself from a receiver that sends nothing else.

        With ``sent_bps`` (what was sent over the last second on the streams the REMB
        covers) it also says whether the link is congested, for a receiver whose REMB is its
        only signal (aiortc reports no loss through a queue, and sends no transport
        feedback). A REMB alone does not: aiortc's lags behind a stream that grew (it climbs
        8 % a second) and drops to 0.85 x what it received whenever the machine is loaded.
        Congestion is the two together: the REMB *fell* (the receiver saw its queue grow),
        and what it says it receives stays well under what was sent for a second (a
        loaded machine's fall lands near what was sent; a link's, at the link's rate)."""
        falling = self._remb is not None and bps < REMB_FALL * self._remb
        self._remb = float(bps)
        self._remb_at = now
        if sent_bps is None or bps >= REMB_UNDER_SHARE * sent_bps:
            self._remb_under_since = None
            self._remb_congested = False
        elif self._remb_under_since is None:
            if falling:
                self._remb_under_since = now
        elif now - self._remb_under_since >= REMB_UNDER_S:
            self._remb_congested = True
        self._combine(now)

    def on_receiver_report(self, fraction_lost: float, rtt_s: float | None, now: float) -> None:
        """A receiver report block: loss fraction (0..1) since the last report, and the round
        trip it yields (RFC 3550 §6.4.1). Its loss counts only without transport feedback,
        which measures the same loss more finely."""
        if rtt_s is not None and rtt_s >= 0:
            self._rtt = min(rtt_s, 1.0)
            self._rtt_from_reports = True
        if now - self._last_twcc < TWCC_FRESH_S:
            return
        self._loss_reported = True
        self._loss.update(min(max(fraction_lost, 0.0), 1.0), self._rtt, now)
        self._combine(now)

    def probe_result(self, bps: int, now: float) -> None:
        """A probe (padding or retransmissions sent above the target) was delivered at ``bps``:
        unless it raised a queue (overuse) or lost packets (the loss part's last reading cut
        the rate: a policer drops what exceeds its rate without any delay), the link carries
        at least that, so both parts jump to it at once instead of climbing 8 % a second."""
        if self._detector.usage == "overuse" or self._loss.state == "decrease":
            return
        self._delay.bps = max(self._delay.bps, float(bps))
        self._loss.bps = max(self._loss.bps, float(bps))
        self._combine(now)

    @property
    def delivered_bps(self) -> int | None:
        """The rate the receiver was last seen to get (transport feedback only): at the end
        of a probe that raised no overuse, ``probe_result(delivered_bps)`` lets the estimate
        jump there."""
        return None if self._acked.bps is None else int(self._acked.bps)

    @property
    def latest_delivered_bps(self) -> int | None:
        """The rate the receiver got over the last quarter second (transport feedback only,
        unsmoothed): what a probe reads as its result, since the smoothed rate still averages
        in the quieter time before it. Arrivals are paced by the bottleneck, so no window
        reads more than the link carried."""
        latest = self._acked.latest
        return None if latest is None else int(latest)

    @property
    def rtt_s(self) -> float | None:
        """The path's round trip from receiver reports (RFC 3550 §6.4.1), None before one
        came: the feedback-based one also counts the receiver's batching."""
        return self._rtt if self._rtt_from_reports else None

    @property
    def target_bps(self) -> int:
        """The rate the connection may carry now, bit/s."""
        return int(self._target)

    @property
    def last_decrease(self) -> float:
        """When the link last pushed back (a growing queue or loss cut the rate; -inf: never).
        Until it has once, nothing says the target is a limit: it is where the climb started."""
        return self._last_decrease

    @property
    def state(self) -> State:
        """What the controller that sets the target (the lower one) did last."""
        return self._state

    def _combine(self, now: float) -> None:
        twcc = self._last_twcc > -math.inf
        # A receiver estimates from the video it gets (aiortc: from nothing else), so it stops
        # sending REMB while every video is paused: its last word, said of a squeezed link,
        # must not hold the rate down for good once the link is back.
        remb = self._remb if now - self._remb_at < REMB_FRESH_S else None
        candidates = []
        if twcc:
            candidates.append(self._delay.bps)
        # The loss part speaks when some report measures loss; a receiver that sends REMB
        # and nothing else has its REMB taken as the estimate, up and down.
        if twcc or self._loss_reported or remb is None:
            candidates.append(self._loss.bps)
        if remb is not None:
            candidates.append(remb)
        target = min(candidates)
        # Keep the loss part near the target, so that it does not climb alone where the
        # delay part (or REMB) holds the rate, then leap when that limit lifts.
        self._loss.bps = min(max(self._loss.bps, self._min), self._max, target * 1.5 + 10_000)
        self._delay.bps = min(max(self._delay.bps, self._min), self._max)
        if twcc and self._delay.bps <= self._loss.bps:
            self._state = self._delay.state
        elif remb is not None and remb <= target:
            previous = self._target
            self._state = (
                "hold" if target == previous else "increase" if target > previous else "decrease"
            )
        else:
            self._state = self._loss.state
        self._target = min(max(target, self._min), self._max)
        # Congestion is a queue growing (transport feedback) or loss; a REMB that falls is
        # not: aiortc's follows what it receives, so it wobbles down while the SFU is
        # app-limited, and taking that for congestion paused a viewer on a clean link.
        if (
            (twcc and self._delay.state == "decrease")
            or self._loss.state == "decrease"
            or (self._remb_congested and remb is not None)
        ):
            self._last_decrease = now


def _arrival(result: PacketResult) -> float:
    return result.arrival_time if result.arrival_time is not None else math.inf
