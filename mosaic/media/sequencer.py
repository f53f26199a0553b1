"""Keeps an outgoing stream continuous while what feeds it changes.

A down track (one stream a subscriber receives) is fed by one publisher's stream at a time; the
source changes when the subscriber's layer changes or the slot shows someone else. The receiver
must see one stream: sequence numbers without gaps or jumps back, timestamps that advance with
wall-clock time. Each source segment maps incoming numbers by a fixed offset; a switch starts a
new segment where the last one ended (RFC 3550 §5.1 lets a sender pick any start).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
HALF_SEQ = SEQ_MOD // 2
HALF_TS = TS_MOD // 2
# Packets this far behind the newest one are too late to be worth forwarding.
LATE_WINDOW = 1000


def seq_diff(a: int, b: int) -> int:
    """a - b in 16-bit serial arithmetic (RFC 1982): positive when a is newer."""
    return ((a - b + HALF_SEQ) % SEQ_MOD) - HALF_SEQ


def ts_diff(a: int, b: int) -> int:
    return ((a - b + HALF_TS) % TS_MOD) - HALF_TS


@dataclass(slots=True)
class _Segment:
    seq_offset: int  # out = in + offset (mod 2^16)
    ts_offset: int
    first_in: int  # incoming sequence number of the segment's first packet
    newest_in: int
    generation: int  # segments of one source share a generation; a switch starts a new one
    tag: Any = None  # what fed this segment (the caller's source object)


class SequenceRewriter:
    def __init__(self, initial_sequence: int = 0, initial_timestamp: int = 0) -> None:
        self._segment: _Segment | None = None
        # Earlier segments, newest first, to map NACKed numbers back across switches and drops.
        self._history: deque[_Segment] = deque(maxlen=8)
        self._switch_pending = True
        self._tag: Any = None
        self._generation = 0
        self._switch_time = 0.0
        self._clock_rate = 90000
        self.last_seq = (initial_sequence - 1) % SEQ_MOD
        self.last_ts = initial_timestamp % TS_MOD
        self.last_send_time: float | None = None

    def switch(self, now: float, clock_rate: int, tag: Any = None) -> None:
        """The next packet starts a new segment (a new source or layer, named by ``tag``)."""
        self._tag = tag
        self._switch_pending = True
        self._switch_time = now
        self._clock_rate = clock_rate
        self._generation += 1

    def rewrite(self, sequence_number: int, timestamp: int, now: float) -> tuple[int, int] | None:
        """The outgoing (sequence number, timestamp), or None for a packet to drop."""
        segment = self._segment
        if self._switch_pending or segment is None:
            segment = self._start_segment(sequence_number, timestamp, now)
        ahead = seq_diff(sequence_number, segment.newest_in)
        if ahead > 0:
            segment.newest_in = sequence_number
        elif ahead < -LATE_WINDOW:
            return None  # too old to be of use
        elif seq_diff(sequence_number, segment.first_in) < 0:
            # A late packet (say, a retransmission) from before a drop: its own segment maps it.
            found = self._segment_of(sequence_number, segment.generation)
            if found is None:
                return None  # from before this source was switched to
            segment = found
        out_seq = (sequence_number + segment.seq_offset) % SEQ_MOD
        out_ts = (timestamp + segment.ts_offset) % TS_MOD
        if seq_diff(out_seq, self.last_seq) > 0:
            self.last_seq = out_seq
            self.last_ts = out_ts
            self.last_send_time = now
        return out_seq, out_ts

    def _start_segment(self, sequence_number: int, timestamp: int, now: float) -> _Segment:
        self._switch_pending = False
        out_seq = (self.last_seq + 1) % SEQ_MOD
        if self.last_send_time is None:
            out_ts = self.last_ts
        else:
            elapsed = max(now, self._switch_time) - self.last_send_time
            out_ts = (self.last_ts + max(1, int(elapsed * self._clock_rate))) % TS_MOD
        segment = _Segment(
            seq_offset=(out_seq - sequence_number) % SEQ_MOD,
            ts_offset=(out_ts - timestamp) % TS_MOD,
            first_in=sequence_number,
            newest_in=sequence_number,
            generation=self._generation,
            tag=self._tag,
        )
        if self._segment is not None:
            self._history.appendleft(self._segment)
        self._segment = segment
        return segment

    def drop(self, sequence_number: int) -> bool:
        """The packet that comes right after the newest one will not be sent: close the gap it
        would leave, so the next packet follows on directly. Returns False (and leaves a gap a
        receiver sees as loss) for a packet out of order: numbers already given out cannot be
        shifted without colliding with a late packet."""
        segment = self._segment
        if segment is None or self._switch_pending:
            return False
        if seq_diff(sequence_number, segment.newest_in) != 1:
            return False
        # A new segment from the next packet on, one number lower, so NACKs for numbers sent
        # before still map back through the old one.
        self._history.appendleft(segment)
        following = (sequence_number + 1) % SEQ_MOD
        self._segment = _Segment(
            seq_offset=(segment.seq_offset - 1) % SEQ_MOD,
            ts_offset=segment.ts_offset,
            first_in=following,
            newest_in=sequence_number,
            generation=segment.generation,
            tag=segment.tag,
        )
        return True

    def _segment_of(self, sequence_number: int, generation: int) -> _Segment | None:
        for segment in self._history:
            if segment.generation != generation:
                return None
            if seq_diff(sequence_number, segment.first_in) >= 0:
                return segment
        return None

    def original(self, out_seq: int) -> tuple[int, int, Any] | None:
        """(incoming sequence number, timestamp offset, source tag) behind an outgoing
        sequence number, for answering a NACK; None when it is unknown or too old."""
        for segment in (self._segment, *self._history):
            if segment is None:
                continue
            incoming = (out_seq - segment.seq_offset) % SEQ_MOD
            if (
                seq_diff(incoming, segment.first_in) >= 0
                and seq_diff(incoming, segment.newest_in) <= 0
            ):
                return incoming, segment.ts_offset, segment.tag
        return None

    def rtp_time_now(self, now: float, clock_rate: int) -> int:
        """The stream's RTP timestamp for wall-clock ``now`` (sender reports need it)."""
        if self.last_send_time is None:
            return self.last_ts
        return (self.last_ts + int((now - self.last_send_time) * clock_rate)) % TS_MOD
