"""Keeps one outgoing RTP stream continuous while what feeds it changes.

A down track (one stream a subscriber receives, one SSRC) is fed by one incoming stream at a
time, and that changes: a simulcast layer switch, a slot that shows another publisher, a
publisher that restarts its numbering. The receiver must still see ONE stream (RFC 3550
§5.1): sequence numbers that go up by one per packet it is sent, and timestamps that follow
wall-clock time and never go back, or its jitter buffer and decoder get lost.

The model, in the spirit of Galène's ``packetmap`` (written anew):

* A *segment* is the stretch fed by one source since the last `switch`. Its first packet
  takes the number after the last one sent and a timestamp advanced by the wall-clock time
  since the last packet (at least 1), so a pause or a publisher change never makes the
  timestamp stall or jump back.
* Inside a segment, numbers map by a fixed offset: ``out = in + offset (mod 2^16)``, so late
  and retransmitted packets find their number too, and losses stay visible to the receiver
  as gaps that its NACKs can repair.
* `drop` removes the newest+1 packet from the numbering (padding-only probes, filtered
  packets): a new *run* begins after it, with an offset one lower, so the receiver sees no
  gap. A late duplicate of a dropped number maps to nothing.

Rule for drops out of order: only the packet right after the newest one can be dropped
without a trace. A packet at or behind the newest, or one after a gap (its predecessors may
still arrive), already owns its outgoing number: `drop` returns False, and that number stays
a gap (a receiver's NACK for it finds nothing). Forward such a packet instead if the gap
matters; a padding-only packet does no harm.

Per forwarded in-order packet `rewrite` costs a few integer operations and one tuple.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

from mosaic.media.wire.serial import (
    SEQ_HALF,
    SEQ_MASK,
    SEQ_MOD,
    TS_HALF,
    TS_MASK,
    seq_diff,
    seq_gt,
    ts_diff,
)

# A jump of more than this many numbers, either way, is a restart of the source's numbering
# rather than loss or reordering: a new segment begins, continuous on the way out.
MAX_JUMP = 3000
# Drops remembered per segment (each opens a run); late packets from before the oldest run
# are not forwarded. Consecutive drops share one run.
MAX_RUNS = 64
# Segments before the current one that `locate` can still map NACKs into.
HISTORY = 3


class Origin(NamedTuple):
    """Where an outgoing packet came from: for answering a NACK from a packet cache."""

    sequence_number: int  # the incoming sequence number (look it up in the tag's cache)
    timestamp_offset: int  # out timestamp = (in timestamp + offset) mod 2^32
    # What fed its segment (given to `switch`). A segment outlives its source: give a weak
    # reference (as down tracks do), or a departed publisher's stream stays alive through it.
    tag: Any


@dataclass(slots=True)
class _Run:
    # Numbers are "extended" (RFC 3550 A.1): unwrapped integers, so that comparisons hold
    # however long a segment lasts; ``& SEQ_MASK`` gives the 16-bit value back.
    first: int  # from this incoming number on, ...
    delta: int  # ... out = in + delta
    skipped: int  # the ``skipped`` incoming numbers just before ``first`` were dropped


@dataclass(slots=True)
class _Segment:
    runs: list[_Run]  # oldest first
    ts_offset: int  # out timestamp = in timestamp + ts_offset (mod 2^32)
    newest: int  # extended incoming number of the newest packet (when archived)
    tag: Any


class SequenceRewriter:
    """Maps (sequence number, timestamp) of incoming packets to outgoing ones for ONE down
    track. Call `switch` before the first packet of a new source, `rewrite` for every packet
    to forward, `drop` for a packet that will not be forwarded."""

    __slots__ = (
        "_clock_rate",
        "_history",
        "_newest",
        "_newest_ext",
        "_out_ext",
        "_pending",
        "_segment",
        "_switch_time",
        "_tag",
        "_ts_offset",
        "last_send_time",
        "last_timestamp",
    )

    def __init__(
        self,
        initial_sequence_number: int | None = None,
        initial_timestamp: int | None = None,
        clock_rate: int = 90000,
    ) -> None:
        # RFC 3550 §5.1: initial values SHOULD be random.
        if initial_sequence_number is None:
            initial_sequence_number = secrets.randbits(16)
        if initial_timestamp is None:
            initial_timestamp = secrets.randbits(32)
        # Extended number of the last packet sent; the first one sent gets the initial value.
        self._out_ext = (initial_sequence_number & SEQ_MASK) - 1
        self.last_timestamp = initial_timestamp & TS_MASK
        self.last_send_time: float | None = None
        self._clock_rate = clock_rate
        self._pending = True
        self._switch_time = float("-inf")
        self._tag: Any = None
        self._segment: _Segment | None = None
        self._history: deque[_Segment] = deque(maxlen=HISTORY)
        self._newest = 0  # 16-bit incoming number of the newest packet of this segment
        self._newest_ext = 0
        self._ts_offset = 0

    @property
    def last_sequence_number(self) -> int:
        """The outgoing sequence number of the newest packet sent (before any: initial - 1)."""
        return self._out_ext & SEQ_MASK

    def switch(self, now: float, clock_rate: int, tag: Any = None) -> None:
        """The next packet starts a new segment, fed by ``tag`` at ``clock_rate``. Its
        timestamp is placed by the wall-clock time of that packet (not of this call), since
        a video switch waits for a keyframe."""
        self._pending = True
        self._switch_time = now
        self._clock_rate = clock_rate
        self._tag = tag

    def rewrite(self, sequence_number: int, timestamp: int, now: float) -> tuple[int, int] | None:
        """The outgoing (sequence number, timestamp) of an incoming packet, or None when it
        must not be sent: a dropped number, or from before the current segment began."""
        if self._pending:
            self._start(sequence_number, timestamp, now)
        ahead = (sequence_number - self._newest) & SEQ_MASK
        if ahead == 0 or ahead > MAX_JUMP:
            if ahead == 0 or ahead >= SEQ_MOD - MAX_JUMP:
                return self._late(sequence_number, timestamp)
            self._start(sequence_number, timestamp, now)  # the source restarted
            ahead = 1
        self._newest = sequence_number
        self._newest_ext += ahead
        self._out_ext += ahead
        out_ts = (timestamp + self._ts_offset) & TS_MASK
        if (out_ts - self.last_timestamp) & TS_MASK < TS_HALF:
            self.last_timestamp = out_ts
        self.last_send_time = now
        return self._out_ext & SEQ_MASK, out_ts

    def _start(self, sequence_number: int, timestamp: int, now: float) -> None:
        out_ts = self.last_timestamp
        if self.last_send_time is not None:
            elapsed = max(now, self._switch_time) - self.last_send_time
            # At least one tick; under half the timestamp space, or it would read as a step
            # back (RFC 1982).
            out_ts += min(max(1, int(elapsed * self._clock_rate)), TS_HALF - 1)
        if self._segment is not None:
            self._segment.newest = self._newest_ext
            self._history.append(self._segment)
        self._ts_offset = (out_ts - timestamp) & TS_MASK
        self._newest = (sequence_number - 1) & SEQ_MASK
        self._newest_ext = sequence_number - 1
        first = _Run(sequence_number, self._out_ext + 1 - sequence_number, 0)
        self._segment = _Segment([first], self._ts_offset, 0, self._tag)
        self._pending = False

    def _late(self, sequence_number: int, timestamp: int) -> tuple[int, int] | None:
        segment = self._segment
        assert segment is not None
        number = self._newest_ext - ((self._newest - sequence_number) & SEQ_MASK)
        for run in reversed(segment.runs):
            if number >= run.first:
                return (number + run.delta) & SEQ_MASK, (timestamp + self._ts_offset) & TS_MASK
            if number >= run.first - run.skipped:
                return None  # a dropped number: its outgoing number went to the next packet
        return None  # from before the segment began (or before the runs remembered)

    def drop(self, sequence_number: int) -> bool:
        """The packet ``sequence_number`` will not be forwarded. True when it leaves no gap:
        it was the one right after the newest (or no packet of this segment was sent yet);
        False otherwise, and its outgoing number stays a gap (see the module docstring)."""
        segment = self._segment
        if self._pending or segment is None:
            return True
        if (sequence_number - self._newest) & SEQ_MASK != 1:
            return False
        self._newest = sequence_number
        self._newest_ext += 1
        delta = self._out_ext - self._newest_ext  # the next packet takes the next number
        last = segment.runs[-1]
        if last.first == self._newest_ext:
            # Nothing was forwarded since the previous drop: one longer run of dropped numbers.
            last.first += 1
            last.delta = delta
            last.skipped += 1
        else:
            segment.runs.append(_Run(self._newest_ext + 1, delta, 1))
            if len(segment.runs) > MAX_RUNS:
                del segment.runs[0]
        return True

    def locate(self, out_seq: int) -> Origin | None:
        """The incoming packet behind an outgoing sequence number, in the current segment or
        the last few before it; None when it is unknown, too old, or not sent yet."""
        back = (self._out_ext - out_seq) & SEQ_MASK
        if self._segment is None or back >= SEQ_HALF:
            return None
        target = self._out_ext - back
        segments = [self._segment, *reversed(self._history)]
        for index, segment in enumerate(segments):
            end = self._newest_ext if index == 0 else segment.newest
            for run in reversed(segment.runs):
                if run.first + run.delta <= target <= end + run.delta:
                    return Origin((target - run.delta) & SEQ_MASK, segment.ts_offset, segment.tag)
                end = run.first - run.skipped - 1
        return None

    def original(self, out_seq: int) -> int | None:
        """The incoming sequence number behind an outgoing one (see `locate`)."""
        found = self.locate(out_seq)
        return None if found is None else found.sequence_number

    def rtp_time_now(self, now: float, clock_rate: int | None = None) -> int:
        """The stream's RTP timestamp at wall-clock ``now``, extrapolated from the last packet
        sent: what a sender report (RFC 3550 §6.4.1) pairs with its NTP time."""
        if self.last_send_time is None:
            return self.last_timestamp
        rate = self._clock_rate if clock_rate is None else clock_rate
        return (self.last_timestamp + int((now - self.last_send_time) * rate)) & TS_MASK

    @property
    def started(self) -> bool:
        """Whether any packet was sent (sender reports wait for one)."""
        return self.last_send_time is not None


__all__ = [
    "MAX_JUMP",
    "Origin",
    "SequenceRewriter",
    "seq_diff",
    "seq_gt",
    "ts_diff",
]
