"""A deterministic bottleneck link for the downlink estimator's tests: the SFU sends video
frames at the estimator's target through a FIFO queue of limited size in front of a link
whose capacity changes over time, with random loss after it; the receiver answers the way a
browser does (transport-wide feedback every 50-100 ms), or the way a receiver without it
does (REMB and/or receiver reports about once a second).

No sockets and no clock: time advances in 1 ms ticks and every random draw comes from one
seeded generator, so a run is reproducible to the bit and a failing test replays exactly.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mosaic.media.sfu.estimator import DownlinkEstimator, PacketResult

Feedback = Literal["twcc", "remb", "rr"]

TICK = 0.001
PACKET_BYTES = 1200
FPS = 30


def steps(*changes: tuple[float, float]) -> Callable[[float], float]:
    """A capacity (bit/s) that changes at given times: ``steps((0, 2e6), (10, 5e5))``."""
    ordered = sorted(changes)

    def capacity(t: float) -> float:
        value = ordered[0][1]
        for at, bps in ordered:
            if t >= at:
                value = bps
        return value

    return capacity


@dataclass(slots=True)
class Sample:
    """What the sender saw when a report reached it."""

    time: float
    target_bps: int
    state: str
    capacity_bps: float


@dataclass
class LinkSimulator:
    """One sender (the SFU: by default greedy, sending as much as the estimate allows), one
    link, one receiver. ``queue_s`` sizes the queue in seconds of the link's starting capacity."""

    estimator: DownlinkEstimator
    capacity: Callable[[float], float]
    queue_s: float = 0.1
    loss: float = 0.0
    one_way_delay: float = 0.02
    feedback: Feedback = "twcc"
    # The receiver's REMB at a time (None: it sends none then), about once a second.
    remb: Callable[[float], float | None] | None = None
    rr: bool = False
    # What the sender sends, given the time and the target; None: the target (a greedy
    # sender). An SFU is app-limited: it forwards what the chosen layers carry.
    send_bps: Callable[[float, int], float] | None = None
    seed: int = 1
    samples: list[Sample] = field(default_factory=list)
    # (send time, time spent queueing) of every packet the queue accepted.
    queue_delays: list[tuple[float, float]] = field(default_factory=list)
    sent_packets: int = 0
    queue_drops: int = 0
    random_losses: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._queue_limit = self.queue_s * self.capacity(0.0) / 8
        self._backlog: deque[tuple[float, int]] = deque()  # (departure, size)
        self._backlog_bytes = 0
        self._last_departure = 0.0
        self._sent: list[tuple[float, int]] = []  # by sequence: (send time, size)
        self._arrivals: deque[tuple[int, float]] = deque()  # (sequence, arrival), in order
        self._received: dict[int, float] = {}
        self._reported = 0  # the sequences below this were in a feedback already
        self._rr_from = 0
        self._inbox: list[tuple[float, int, Callable[[], None]]] = []
        self._order = 0
        self._now = 0.0
        self._next = (0.0, 0.0, 0.0)  # the next frame, transport feedback, reports

    def run(self, until: float) -> None:
        """Advances the simulation to ``until`` (seconds); a later call carries on."""
        t = self._now
        next_frame, next_feedback, next_report = self._next
        while t < until:
            while self._inbox and self._inbox[0][0] <= t:
                _, _, deliver = heapq.heappop(self._inbox)
                deliver()
                self.samples.append(
                    Sample(t, self.estimator.target_bps, self.estimator.state, self.capacity(t))
                )
            if t >= next_frame:
                self._send_frame(t)
                next_frame += 1 / FPS
            self._receive(t)
            if self.feedback == "twcc" and t >= next_feedback:
                self._transport_feedback(t)
                next_feedback = t + self._rng.uniform(0.05, 0.1)
            if (self.feedback != "twcc" or self.rr) and t >= next_report:
                self._reports(t)
                next_report = t + self._rng.uniform(0.8, 1.2)
            t = round(t + TICK, 6)
        self._now = t
        self._next = (next_frame, next_feedback, next_report)

    def _send_frame(self, t: float) -> None:
        target = self.estimator.target_bps
        bps = target if self.send_bps is None else self.send_bps(t, target)
        if bps <= 0:
            return  # nothing to forward (every video paused, audio silent)
        remaining = max(int(bps / FPS / 8), 200)
        offset = 0.0
        while remaining > 0:
            size = min(remaining, PACKET_BYTES)
            remaining -= size
            self._enqueue(t + offset, size)
            offset += 0.0001  # the SFU writes a frame's packets back to back

    def _enqueue(self, t: float, size: int) -> None:
        sequence = len(self._sent)
        self._sent.append((t, size))
        self.sent_packets += 1
        while self._backlog and self._backlog[0][0] <= t:
            self._backlog_bytes -= self._backlog.popleft()[1]
        if self._backlog_bytes + size > self._queue_limit:
            self.queue_drops += 1
            return
        start = max(t, self._last_departure)
        departure = start + size * 8 / self.capacity(start)
        self._last_departure = departure
        self._backlog.append((departure, size))
        self._backlog_bytes += size
        self.queue_delays.append((t, start - t))
        if self._rng.random() < self.loss:
            self.random_losses += 1
            return
        self._arrivals.append((sequence, departure + self.one_way_delay))

    def _receive(self, t: float) -> None:
        while self._arrivals and self._arrivals[0][1] <= t:
            sequence, arrival = self._arrivals.popleft()
            self._received[sequence] = arrival

    def _transport_feedback(self, t: float) -> None:
        """Every sequence from the last report to the highest received: each arrived or lost."""
        if not self._received:
            return
        highest = max(self._received)
        if highest < self._reported:
            return
        results = []
        for sequence in range(self._reported, highest + 1):
            send_time, size = self._sent[sequence]
            results.append(PacketResult(sequence, send_time, size, self._received.get(sequence)))
        self._reported = highest + 1
        self._received = {s: a for s, a in self._received.items() if s >= self._reported}
        self._post(t, lambda: self.estimator.on_transport_feedback(results, t + self.one_way_delay))

    def _reports(self, t: float) -> None:
        """A receiver report (loss since the last one, round trip) and the REMB, if any."""
        arrived = [s for s in self._received if s >= self._rr_from]
        if arrived:
            highest = max(arrived)
            expected = highest + 1 - self._rr_from
            fraction = 1 - len(arrived) / expected
            rtt = t - self._sent[highest][0] + self.one_way_delay
            self._rr_from = highest + 1
            if self.feedback != "twcc":
                self._received = {s: a for s, a in self._received.items() if s >= self._rr_from}
            if self.feedback == "rr" or self.rr:
                self._post(
                    t,
                    lambda: self.estimator.on_receiver_report(
                        fraction, rtt, t + self.one_way_delay
                    ),
                )
        remb = None if self.remb is None else self.remb(t)
        if remb is not None:
            bps = int(remb)
            self._post(t, lambda: self.estimator.on_remb(bps, t + self.one_way_delay))

    def _post(self, t: float, deliver: Callable[[], None]) -> None:
        """A report travels back on the uncongested reverse path."""
        self._order += 1
        heapq.heappush(self._inbox, (t + self.one_way_delay, self._order, deliver))

    # What the tests ask of a run.

    @property
    def now(self) -> float:
        return self._now

    def targets(self, start: float, end: float) -> list[int]:
        return [s.target_bps for s in self.samples if start <= s.time < end]

    def first_time(self, after: float, condition: Callable[[Sample], bool]) -> float | None:
        """When the estimate first met ``condition`` after ``after`` (None: never)."""
        return next((s.time for s in self.samples if s.time >= after and condition(s)), None)

    def max_queue_delay(self, start: float = 0.0, end: float = float("inf")) -> float:
        return max((d for t, d in self.queue_delays if start <= t < end), default=0.0)
