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

The pieces, in the order a feedback packet flows through them (each small and pure):

- ``_ArrivalGroups``: packets sent within 5 ms are one group (a video frame's burst); the
  change in one-way delay between consecutive groups is the signal (§5.2-5.3);
- ``_Trendline``: the slope of the smoothed, accumulated delay over the last 20 groups, by
  linear regression (libwebrtc's trendline filter, which replaced the draft's Kalman filter);
- ``_OveruseDetector``: the slope against a threshold that adapts to the path's jitter (§5.4);
- ``_AckedRate`` and ``_AimdControl``: the rate actually delivered, and the additive-increase,
  multiplicative-decrease controller that turns overuse/normal/underuse into a rate (§5.5);
- ``_LossControl``: the loss-based rate (§6), from transport feedback or receiver reports.

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
from typing import Literal

State = Literal["increase", "hold", "decrease"]
Usage = Literal["normal", "overuse", "underuse"]

START_BPS = 1_000_000
MIN_BPS = 30_000
MAX_BPS = 20_000_000

BURST_S = 0.005  # packets sent within this of a group's first belong to it (§5.2)
TREND_WINDOW = 20  # groups in the regression
TREND_SMOOTHING = 0.9
TREND_GAIN = 4.0
MAX_DELTAS = 60
THRESHOLD_START_MS = 12.5
THRESHOLD_MIN_MS, THRESHOLD_MAX_MS = 6.0, 600.0
K_UP, K_DOWN = 0.0087, 0.039  # adaptation gains when the trend is outside / inside (§5.4)
OVERUSE_TIME_MS = 10.0
BETA = 0.85  # decrease to this share of the delivered rate (§5.5)
PROBE_RATIO = 1.5  # a delivered rate this far above the target is a probe's: it counts
INCREASE_PER_S = 1.08  # multiplicative increase, per second (§5.5)
LOSS_HIGH, LOSS_LOW = 0.10, 0.02  # loss-based: decrease above, increase below, hold between
LOSS_MIN_PACKETS = 20  # transport feedback's loss is judged over at least this many packets
LOSS_WINDOW_S = 1.0  # ... and at most this long, unless the evidence is clear sooner
TWCC_FRESH_S = 2.0  # transport feedback this recent makes receiver-report loss redundant


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


class _ArrivalGroups:
    """Groups of packets sent in one burst, and the delay variation between consecutive
    groups: d(i) = (arrival(i) - arrival(i-1)) - (send(i) - send(i-1)), in seconds (§5.3).
    A growing queue makes d positive; a draining one, negative."""

    __slots__ = ("_first_arrival", "_first_send", "_last_arrival", "_last_send", "_prev")

    def __init__(self) -> None:
        self._first_send = -math.inf
        self._last_send = 0.0
        self._first_arrival = 0.0
        self._last_arrival = 0.0
        self._prev: tuple[float, float] | None = None  # the last complete group: send, arrival

    def add(self, send: float, arrival: float) -> tuple[float, float, float] | None:
        """One received packet, in arrival order; returns (delay variation, send delta,
        arrival time of the completed group) when it closes the group before it."""
        if send < self._first_send:
            return None  # sent before the current group began: reordered, not a signal
        if send - self._first_send <= BURST_S or self._released_together(send, arrival):
            self._last_send = max(self._last_send, send)
            self._last_arrival = arrival
            return None
        done = None
        if self._first_send != -math.inf:
            current = (self._last_send, self._last_arrival)
            if self._prev is not None:
                send_delta = current[0] - self._prev[0]
                arrival_delta = current[1] - self._prev[1]
                if arrival_delta >= 0:  # a negative one is reordering on the path
                    done = (arrival_delta - send_delta, send_delta, current[1])
            self._prev = current
        self._first_send = self._last_send = send
        self._first_arrival = self._last_arrival = arrival
        return done

    def _released_together(self, send: float, arrival: float) -> bool:
        """Packets sent apart but arriving in one burst (a Wi-Fi aggregate, a stalled queue
        let go) belong to the group: their spacing says nothing about the path's queue."""
        arrival_delta = arrival - self._last_arrival
        return (
            arrival_delta < BURST_S
            and arrival_delta - (send - self._last_send) < 0
            and arrival - self._first_arrival < 0.1
        )


class _Trendline:
    """Whether queueing delay is growing: the slope of the accumulated delay variation
    (exponentially smoothed) against arrival time, over the last ``TREND_WINDOW`` groups.

    The regression's sums are kept as groups enter and leave the window (O(1) per group, not
    O(window)); times are counted from an origin moved to the oldest point now and then, so
    that the sums stay small and exact enough however long the call lasts."""

    __slots__ = ("_accumulated", "_origin", "_points", "_smoothed", "_sums", "_updates", "deltas")

    def __init__(self) -> None:
        self._points: deque[tuple[float, float]] = deque()
        self._sums = [0.0, 0.0, 0.0, 0.0]  # x, y, xx, xy
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._origin: float | None = None
        self._updates = 0
        self.deltas = 0

    def update(self, delay_variation_ms: float, arrival: float) -> float | None:
        """Adds one group; returns the slope (ms of delay per ms) once the window is full."""
        if self._origin is None:
            self._origin = arrival
        self.deltas = min(self.deltas + 1, MAX_DELTAS)
        self._accumulated += delay_variation_ms
        self._smoothed = (
            TREND_SMOOTHING * self._smoothed + (1 - TREND_SMOOTHING) * self._accumulated
        )
        sums = self._sums
        if len(self._points) == TREND_WINDOW:
            x, y = self._points.popleft()
            sums[0] -= x
            sums[1] -= y
            sums[2] -= x * x
            sums[3] -= x * y
        x, y = (arrival - self._origin) * 1000.0, self._smoothed
        self._points.append((x, y))
        sums[0] += x
        sums[1] += y
        sums[2] += x * x
        sums[3] += x * y
        self._updates += 1
        if self._updates % 1024 == 0:
            self._rebase()
        n = len(self._points)
        if n < TREND_WINDOW:
            return None
        den = n * sums[2] - sums[0] * sums[0]
        return (n * sums[3] - sums[0] * sums[1]) / den if den > 0 else None

    def _rebase(self) -> None:
        shift = self._points[0][0]
        self._origin = (self._origin or 0.0) + shift / 1000.0
        self._points = deque((x - shift, y) for x, y in self._points)
        self._sums = [
            sum(x for x, _ in self._points),
            sum(y for _, y in self._points),
            sum(x * x for x, _ in self._points),
            sum(x * y for x, y in self._points),
        ]


class _OveruseDetector:
    """The trend against an adaptive threshold (§5.4). The threshold follows the trend
    slowly, so that jitter on a noisy path does not read as congestion, and a long-lived
    TCP flow on the same link does not starve this one (a fixed one would)."""

    __slots__ = ("_count_over", "_last_update", "_prev_trend", "_time_over", "threshold", "usage")

    def __init__(self) -> None:
        self.threshold = THRESHOLD_START_MS
        self._last_update: float | None = None
        self._time_over = -1.0
        self._count_over = 0
        self._prev_trend = 0.0
        self.usage: Usage = "normal"

    def detect(self, slope: float, deltas: int, send_delta_ms: float, arrival: float) -> Usage:
        trend = min(deltas, MAX_DELTAS) * slope * TREND_GAIN
        if trend > self.threshold:
            if self._time_over == -1:
                self._time_over = send_delta_ms / 2  # assume half the last gap was overuse
            else:
                self._time_over += send_delta_ms
            self._count_over += 1
            # Overuse needs a sustained, non-shrinking trend: one late frame is not a queue.
            if (
                self._time_over > OVERUSE_TIME_MS
                and self._count_over > 1
                and trend >= self._prev_trend
            ):
                self._time_over = 0.0
                self._count_over = 0
                self.usage = "overuse"
        elif trend < -self.threshold:
            self._time_over = -1
            self._count_over = 0
            self.usage = "underuse"
        else:
            self._time_over = -1
            self._count_over = 0
            self.usage = "normal"
        self._prev_trend = trend
        self._adapt(trend, arrival)
        return self.usage

    def _adapt(self, trend: float, arrival: float) -> None:
        if self._last_update is None:
            self._last_update = arrival
        # A spike far outside (a route change, a stall) would drag the threshold up: skip it.
        if abs(trend) > self.threshold + 15.0:
            self._last_update = arrival
            return
        k = K_DOWN if abs(trend) < self.threshold else K_UP
        dt_ms = min((arrival - self._last_update) * 1000.0, 100.0)
        self.threshold += k * (abs(trend) - self.threshold) * dt_ms
        self.threshold = min(max(self.threshold, THRESHOLD_MIN_MS), THRESHOLD_MAX_MS)
        self._last_update = arrival


class _AckedRate:
    """The rate the receiver actually got, from received packets' sizes and arrival times, in
    windows of ``WINDOW_S``, smoothed. It is what the controller backs off from (the sending
    rate is app-limited in an SFU: it forwards what the layers carry, not the target)."""

    WINDOW_S = 0.25
    __slots__ = ("_bytes", "_start", "bps")

    def __init__(self) -> None:
        self._start: float | None = None
        self._bytes = 0
        self.bps: float | None = None

    def add(self, arrival: float, size: int) -> None:
        if self._start is None or not 0 <= arrival - self._start < 2 * self.WINDOW_S:
            # First packet, a gap (nothing was sent: every video paused), or a receiver
            # clock that jumped: an idle second says nothing of the link; start afresh.
            self._start = arrival
            self._bytes = 0
        elif arrival - self._start >= self.WINDOW_S:
            sample = self._bytes * 8 / (arrival - self._start)
            self.bps = sample if self.bps is None else 0.5 * self.bps + 0.5 * sample
            self._start = arrival
            self._bytes = 0
        self._bytes += size


class _AimdControl:
    """The delay-based rate (§5.5): overuse -> decrease to ``BETA`` x the delivered rate;
    normal -> increase (multiplicatively while far from the link's known capacity,
    additively near it); underuse -> hold, while the queue drains.

    The link capacity is the average delivered rate at past overuses; an increase past it by
    three deviations means the link got faster, and the estimate is forgotten."""

    __slots__ = ("_cap", "_cap_var", "_last", "_last_decrease", "bps", "state")

    def __init__(self, start_bps: float) -> None:
        self.bps = start_bps
        self.state: State = "hold"
        self._last: float | None = None
        self._last_decrease = -math.inf
        self._cap: float | None = None  # kbit/s
        self._cap_var = 0.4

    def update(self, usage: Usage, acked: float | None, rtt: float, now: float) -> None:
        dt = 0.0 if self._last is None else min(max(now - self._last, 0.0), 1.0)
        self._last = now
        if usage == "overuse":
            # Once per round trip at most: the last decrease must show before another.
            if now - self._last_decrease < min(max(rtt, 0.01), 0.2) or acked is None:
                return
            decreased = BETA * acked
            if decreased > self.bps and self._cap is not None:
                decreased = BETA * self._cap * 1000
            self.bps = min(self.bps, decreased)
            self._learn_capacity(acked / 1000)
            self._last_decrease = now
            self.state = "decrease"
        elif usage == "underuse":
            self.state = "hold"  # the queue drains: let it, before adding more
        else:
            self.state = "increase"
            self._increase(dt, acked, rtt)

    def _increase(self, dt: float, acked: float | None, rtt: float) -> None:
        before = self.bps
        kbps = self.bps / 1000
        if self._cap is not None and kbps > self._cap + 3 * math.sqrt(self._cap_var * self._cap):
            self._cap = None  # the link got faster than it was: search again
        if self._cap is None:
            self.bps += max(self.bps * (INCREASE_PER_S**dt - 1), 1000 * dt)
        else:
            # About one packet per response time: what a 30 fps stream adds per frame.
            bits_per_frame = self.bps / 30
            packets = max(1.0, math.ceil(bits_per_frame / (1200 * 8)))
            per_s = max(4000.0, (bits_per_frame / packets) / (rtt + 0.1))
            self.bps += per_s * dt
        if acked is not None:
            # An app-limited sender must not talk itself into a rate it never tried: no
            # increase past 1.5 x what was delivered (a probe raises what was delivered).
            self.bps = min(self.bps, max(before, 1.5 * acked + 10_000))

    def _learn_capacity(self, kbps: float) -> None:
        if self._cap is None:
            self._cap = kbps
        else:
            self._cap = 0.95 * self._cap + 0.05 * kbps
        norm = (self._cap - kbps) ** 2 / max(self._cap, 1.0)
        self._cap_var = min(max(0.95 * self._cap_var + 0.05 * norm, 0.4), 2.5)


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
        self._groups = _ArrivalGroups()
        self._trend = _Trendline()
        self._detector = _OveruseDetector()
        self._acked = _AckedRate()
        self._delay = _AimdControl(float(start_bps))
        self._loss = _LossControl(float(start_bps))
        self._remb: float | None = None
        self._rtt = 0.1
        self._rtt_from_reports = False
        self._loss_reported = False
        self._last_twcc = -math.inf
        self._loss_window = _LossWindow()
        self._target = float(start_bps)
        self._state: State = "hold"

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
        self._delay.update(usage, self._acked.bps, self._rtt, now)
        acked = self._acked.bps
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
        self._combine()

    def on_remb(self, bps: int, now: float) -> None:
        """The receiver's own estimate (REMB, draft-alvestrand-rmcat-remb): a cap."""
        self._remb = float(bps)
        self._combine()

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
        self._combine()

    def probe_result(self, bps: int, now: float) -> None:
        """A probe (padding or retransmissions sent above the target) was delivered at ``bps``
        without loss or overuse: the link carries at least that, so both parts may jump to it
        at once instead of climbing 8 % a second."""
        if self._detector.usage == "overuse":
            return
        self._delay.bps = max(self._delay.bps, float(bps))
        self._loss.bps = max(self._loss.bps, float(bps))
        self._combine()

    @property
    def delivered_bps(self) -> int | None:
        """The rate the receiver was last seen to get (transport feedback only): at the end
        of a probe that raised no overuse, ``probe_result(delivered_bps)`` lets the estimate
        jump there."""
        return None if self._acked.bps is None else int(self._acked.bps)

    @property
    def target_bps(self) -> int:
        """The rate the connection may carry now, bit/s."""
        return int(self._target)

    @property
    def state(self) -> State:
        """What the controller that sets the target (the lower one) did last."""
        return self._state

    def _combine(self) -> None:
        twcc = self._last_twcc > -math.inf
        candidates = []
        if twcc:
            candidates.append(self._delay.bps)
        # The loss part speaks when some report measures loss; a receiver that sends REMB
        # and nothing else has its REMB taken as the estimate, up and down.
        if twcc or self._loss_reported or self._remb is None:
            candidates.append(self._loss.bps)
        if self._remb is not None:
            candidates.append(self._remb)
        target = min(candidates)
        # Keep the loss part near the target, so that it does not climb alone where the
        # delay part (or REMB) holds the rate, then leap when that limit lifts.
        self._loss.bps = min(max(self._loss.bps, self._min), self._max, target * 1.5 + 10_000)
        self._delay.bps = min(max(self._delay.bps, self._min), self._max)
        if twcc and self._delay.bps <= self._loss.bps:
            self._state = self._delay.state
        elif self._remb is not None and self._remb <= target:
            previous = self._target
            self._state = (
                "hold" if target == previous else "increase" if target > previous else "decrease"
            )
        else:
            self._state = self._loss.state
        self._target = min(max(target, self._min), self._max)


def _arrival(result: PacketResult) -> float:
    return result.arrival_time if result.arrival_time is not None else math.inf
