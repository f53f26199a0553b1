"""What one subscribe connection sent, by transport-wide sequence number: the other half of
transport-wide feedback.

A receiver's feedback says which transport-wide sequence numbers arrived and when (on its
clock); only the sender knows when each left and how big it was. `SendHistory` numbers every
packet a connection sends (`number`, on the forwarding path: two stores into preallocated
arrays and two bytes written into the outgoing template, nothing allocated that outlives the
call, no logging) and turns a `TransportFeedback`
into the `PacketResult` list the connection's `DownlinkEstimator` reads (`results`).

The ring holds ``capacity`` packets (2,048: 8 s of a 2 Mbit/s downlink, more than any
feedback interval); older numbers, numbers never sent and numbers a feedback packet claims
outside the ring are ignored, so a feedback packet claiming 65,535 packets costs no more
than one claiming the ring.
"""

from __future__ import annotations

import struct
from array import array

from mosaic.media.sfu.estimator import PacketResult
from mosaic.media.wire.rtp import TRANSPORT_SEQUENCE_OFFSET
from mosaic.media.wire.twcc import (
    DELTA_UNIT_S,
    LARGE_DELTA,
    NOT_RECEIVED,
    REFERENCE_UNIT_S,
    SMALL_DELTA,
    TransportFeedback,
)

DEFAULT_CAPACITY = 2048
_REFERENCE_MOD = 1 << 24
_REFERENCE_HALF = 1 << 23
_write_u16 = struct.Struct("!H").pack_into


class SendHistory:
    """Send time and size of a connection's recent packets, by transport-wide number."""

    __slots__ = ("_mask", "_reference", "_sizes", "_times", "capacity", "next")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 16 or capacity & (capacity - 1) or capacity > 1 << 15:
            raise ValueError("the capacity is a power of two in 16..32768")
        self.capacity = capacity
        self._mask = capacity - 1
        # Numbers are consecutive and every one is stored, so the slot of any number in
        # next - capacity .. next - 1 holds that number's packet: no tag needed.
        self._times = array("d", [0.0]) * capacity
        self._sizes = array("I", [0]) * capacity
        self.next = 0  # the extended number of the next packet; its low 16 bits go out
        self._reference: int | None = None  # the last reference time, unwrapped

    def sent(self, size: int, now: float) -> int:
        """Number the packet going out now; returns its transport-wide sequence number
        (16 bits) for the header extension."""
        sequence = self.next
        slot = sequence & self._mask
        self._times[slot] = now
        self._sizes[slot] = size
        self.next = sequence + 1
        return sequence & 0xFFFF

    def number(self, template: bytearray, now: float) -> None:
        """`sent` for an outgoing template (see `wire.rtp.RtpWriter`), its number written
        in place: the forwarding path's one call."""
        sequence = self.next
        slot = sequence & self._mask
        self._times[slot] = now
        self._sizes[slot] = len(template)
        self.next = sequence + 1
        _write_u16(template, TRANSPORT_SEQUENCE_OFFSET, sequence & 0xFFFF)

    def results(self, feedback: TransportFeedback) -> list[PacketResult]:
        """The packets ``feedback`` reports that this history still holds, in sequence
        order: each with its send time and size, and its arrival time (seconds on the
        receiver's clock; None when reported lost)."""
        last = self.next - 1
        if last < 0:
            return []
        # The extended number of the feedback's base: the one nearest the newest sent.
        base = last - ((last - feedback.base_sequence) & 0xFFFF)
        if last - base >= 0x8000:
            base += 0x10000
        statuses = feedback.statuses
        oldest = max(last - self.capacity + 1, 0)
        first = max(oldest - base, 0)
        stop = min(len(statuses), last - base + 1)
        if first >= stop:
            return []
        arrival = self._unwrap_reference(feedback.reference_time) * REFERENCE_UNIT_S
        deltas = feedback.deltas
        # Deltas of received packets before the window still move the arrival clock.
        skipped = first - statuses.count(NOT_RECEIVED, 0, first)
        arrival += sum(deltas[:skipped]) * DELTA_UNIT_S
        index = skipped
        results: list[PacketResult] = []
        times, sizes, mask = self._times, self._sizes, self._mask
        for position in range(first, stop):
            symbol = statuses[position]
            received: float | None = None
            if symbol in (SMALL_DELTA, LARGE_DELTA):
                arrival += deltas[index] * DELTA_UNIT_S
                index += 1
                received = arrival
            sequence = base + position
            slot = sequence & mask
            results.append(PacketResult(sequence, times[slot], sizes[slot], received))
        return results

    def _unwrap_reference(self, reference: int) -> int:
        """The 24-bit reference time (64 ms units) as a number that does not wrap."""
        previous = self._reference
        if previous is None:
            unwrapped = reference
        else:
            step = (reference - previous) % _REFERENCE_MOD
            if step >= _REFERENCE_HALF:
                step -= _REFERENCE_MOD
            unwrapped = previous + step
        self._reference = unwrapped
        return unwrapped


class SharedSendHistory(SendHistory):
    """A `SendHistory` that a compiled forwarder (`mosaic.rtc.fastpath`) numbers into as
    well: its next number lives in a one-item array, so that the forwarder's C code and
    `number` (retransmissions, still Python) share it; `cells` hands the forwarder the
    arrays. A subclass, so that the pure-Python path keeps its plain attribute (an array
    item costs a few hundred instructions more per packet)."""

    __slots__ = ("_cell",)

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._cell = array("q", [0])
        super().__init__(capacity)

    @property  # type: ignore[override]
    def next(self) -> int:
        """The extended number the next packet sent gets (its low 16 bits go out)."""
        return self._cell[0]

    @next.setter
    def next(self, value: int) -> None:
        self._cell[0] = value

    def cells(self) -> tuple[array[float], array[int], array[int], int]:
        """Send times, sizes, the next-number cell and the capacity, for the forwarder: it
        holds them for good (an array it holds cannot be resized)."""
        return self._times, self._sizes, self._cell, self.capacity
