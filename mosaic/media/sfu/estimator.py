"""A downlink bandwidth estimate per subscribe connection, from what its receiver reports.

Interface first (the algorithm is being written): see /work/plan18.md, part N2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["increase", "hold", "decrease"]

START_BPS = 1_000_000
MIN_BPS = 30_000


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


class DownlinkEstimator:
    """The bit rate the link to one receiver can carry now (placeholder: constant)."""

    def __init__(self, start_bps: int = START_BPS, min_bps: int = MIN_BPS) -> None:
        self._target = float(start_bps)
        self._min = float(min_bps)
        self._state: State = "hold"

    def on_transport_feedback(self, results: list[PacketResult], now: float) -> None:
        """One transport-wide feedback packet, its packets in sequence order."""

    def on_remb(self, bps: int, now: float) -> None:
        """The receiver's own estimate (REMB)."""

    def on_receiver_report(self, fraction_lost: float, rtt_s: float | None, now: float) -> None:
        """A receiver report's loss fraction (0..1) and the round-trip time it gives."""

    def probe_result(self, bps: int, now: float) -> None:
        """A probe cluster was delivered at ``bps`` without overuse."""

    @property
    def target_bps(self) -> int:
        return int(max(self._min, self._target))

    @property
    def state(self) -> State:
        return self._state
