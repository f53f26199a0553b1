"""The delay-based half of the downlink estimate (draft-ietf-rmcat-gcc-02 §5, as libwebrtc
runs it on the sending side from transport-wide feedback): is a queue growing in front of the
receiver's link, and what rate does that allow?

- ``ArrivalGroups``: packets sent within 5 ms are one group (a video frame's burst); the
  change in one-way delay between consecutive groups is the signal (§5.2-5.3);
- ``Trendline``: the slope of the smoothed, accumulated delay over the last 20 groups, by
  linear regression (libwebrtc's trendline filter, which replaced the draft's Kalman filter);
- ``OveruseDetector``: the slope against a threshold that adapts to the path's jitter (§5.4);
- ``AckedRate`` and ``AimdControl``: the rate actually delivered, and the additive-increase,
  multiplicative-decrease controller that turns overuse/normal/underuse into a rate (§5.5).

Pure and small: `estimator.DownlinkEstimator` drives it once per feedback packet.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

State = Literal["increase", "hold", "decrease"]
Usage = Literal["normal", "overuse", "underuse"]

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
INCREASE_PER_S = 1.08  # multiplicative increase, per second (§5.5)


class ArrivalGroups:
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


class Trendline:
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


class OveruseDetector:
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


class AckedRate:
    """The rate the receiver actually got, from received packets' sizes and arrival times, in
    windows of ``WINDOW_S``, smoothed. It is what the controller backs off from (the sending
    rate is app-limited in an SFU: it forwards what the layers carry, not the target)."""

    WINDOW_S = 0.25
    __slots__ = ("_bytes", "_last", "_last_size", "_start", "bps", "latest")

    def __init__(self) -> None:
        self._start: float | None = None
        self._last = 0.0
        self._last_size = 0
        self._bytes = 0
        self.bps: float | None = None
        self.latest: float | None = None  # the last window's rate, unsmoothed

    def add(self, arrival: float, size: int) -> None:
        if self._start is None or not 0 <= arrival - self._start < 2 * self.WINDOW_S:
            # First packet, a gap (nothing was sent: every video paused), or a receiver
            # clock that jumped: an idle second says nothing of the link; start afresh.
            self._start = arrival
            self._bytes = 0
        elif arrival - self._start >= self.WINDOW_S:
            sample = self._bytes * 8 / (arrival - self._start)
            self.bps = sample if self.bps is None else 0.5 * self.bps + 0.5 * sample
            self.latest = sample
            self._start = arrival
            self._bytes = 0
        self._bytes += size
        self._last = arrival
        self._last_size = size

    @property
    def for_decrease(self) -> float | None:
        """What an overuse cuts from: the smoothed rate, or the latest window's (the one still
        open counts once it spans 100 ms) when higher.
        A probe sent from far below the link (a paused viewer's audio, then a burst above the
        link) overuses within half a second, while the smoothed rate still remembers the
        quiet before it; the link delivered the last window's rate, and the cut is from that.
        Arrivals are paced by the bottleneck, so no window reads more than the link carries."""
        if self.bps is None:
            return None
        rate = max(self.bps, self.latest or 0.0)
        if self._start is not None and self._last - self._start >= 0.1:
            # Without the last packet, whose arrival ends the span rather than fills it.
            rate = max(rate, (self._bytes - self._last_size) * 8 / (self._last - self._start))
        return rate


class AimdControl:
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

    def update(
        self,
        usage: Usage,
        acked: float | None,
        rtt: float,
        now: float,
        cut_from: float | None = None,
    ) -> None:
        """One feedback's verdict; ``acked`` bounds increases, ``cut_from`` (default
        ``acked``) is what an overuse cuts from."""
        if cut_from is None:
            cut_from = acked
        dt = 0.0 if self._last is None else min(max(now - self._last, 0.0), 1.0)
        self._last = now
        if usage == "overuse":
            # Once per round trip at most: the last decrease must show before another.
            if now - self._last_decrease < min(max(rtt, 0.01), 0.2) or cut_from is None:
                return
            decreased = BETA * cut_from
            if decreased > self.bps and self._cap is not None:
                decreased = BETA * self._cap * 1000
            self.bps = min(self.bps, decreased)
            self._learn_capacity(cut_from / 1000)
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
