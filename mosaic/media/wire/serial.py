"""Serial-number arithmetic for RTP sequence numbers (16 bits) and timestamps (32 bits).

Both counters wrap, so "newer" cannot be read from the integers themselves: RFC 1982 §3.2
defines the comparison that holds as long as two numbers are less than half the space apart,
which every SFU mechanism here relies on (NACK ranges, reordering windows, rewriting).
"""

from __future__ import annotations

SEQ_MOD = 1 << 16
SEQ_MASK = SEQ_MOD - 1
SEQ_HALF = SEQ_MOD >> 1
TS_MOD = 1 << 32
TS_MASK = TS_MOD - 1
TS_HALF = TS_MOD >> 1


def seq_diff(a: int, b: int) -> int:
    """``a - b`` for 16-bit sequence numbers, in -32768..32767: positive when ``a`` is newer.

    Exactly half the space apart is ambiguous in RFC 1982; it counts as "older" here so that
    the result always fits a signed 16-bit range.
    """
    return ((a - b + SEQ_HALF) & SEQ_MASK) - SEQ_HALF


def seq_gt(a: int, b: int) -> bool:
    """Whether sequence number ``a`` is newer than ``b`` (RFC 1982 §3.2)."""
    return 0 < ((a - b) & SEQ_MASK) < SEQ_HALF


def ts_diff(a: int, b: int) -> int:
    """``a - b`` for 32-bit RTP timestamps, signed: positive when ``a`` is later."""
    return ((a - b + TS_HALF) & TS_MASK) - TS_HALF


def ts_gt(a: int, b: int) -> bool:
    """Whether RTP timestamp ``a`` is later than ``b`` (RFC 1982 §3.2)."""
    return 0 < ((a - b) & TS_MASK) < TS_HALF
