"""Transport-wide congestion control feedback: RTCP RTPFB, FMT 15
(draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).

A receiver that negotiated the transport-wide sequence number header extension (§2) reports,
every 50-250 ms, which of those numbers arrived and when, relative to a reference time::

    | V=2 |P| FMT=15 | PT=205 | length                          |
    | SSRC of packet sender                                     |
    | SSRC of media source                                      |
    | base sequence number    | packet status count             |
    | reference time (24 bits, x64 ms)    | fb pkt. count (8)   |
    | packet chunks (16 bits each) ...  | recv deltas ...       |

A chunk is a run (bit 15 = 0: a 2-bit status symbol and a 13-bit length) or a status vector
(bit 15 = 1: fourteen 1-bit or seven 2-bit symbols). Symbol 0: not received; 1: received, its
delta one unsigned byte; 2: received, its delta two signed bytes; 3 is reserved. Deltas are
in 250 µs units, each relative to the previous received packet (the first to the reference
time).

`TransportFeedback` keeps the statuses as ``bytes`` (one symbol per reported packet) and the
deltas of received packets only: a 20-byte packet may claim 65,535 lost packets, and a run of
them is expanded at C speed, never as 65,535 Python objects. Whoever reads it (the send
history) looks only at the numbers it still remembers.

`parse_transport_feedback` raises `MalformedPacket` for any malformed input, and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from mosaic.media.wire.rtp import MalformedPacket

FMT_TRANSPORT_CC = 15  # RTPFB
NOT_RECEIVED, SMALL_DELTA, LARGE_DELTA = 0, 1, 2
DELTA_UNIT_S = 250e-6
REFERENCE_UNIT_S = 0.064
MAX_RUN = 0x1FFF
MAX_STATUS_COUNT = 0xFFFF

_HEAD = struct.Struct("!IIHHI")  # sender, media, base seq, status count, ref time|fb count
_U16 = struct.Struct("!H")
_S16 = struct.Struct("!h")
_RTCP_HEADER = struct.Struct("!BBH")
# 2-bit vector symbols, for building: how many fit in one chunk of each kind.
_ONE_BIT_SYMBOLS = 14
_TWO_BIT_SYMBOLS = 7


@dataclass(slots=True)
class TransportFeedback:
    """One transport-wide feedback packet. ``statuses[i]`` is the symbol of sequence number
    ``base_sequence + i`` (mod 2**16); ``deltas`` holds one delta (250 µs units) per
    received packet, in order."""

    sender_ssrc: int
    media_ssrc: int
    base_sequence: int
    reference_time: int  # 24 bits, units of 64 ms, the receiver's clock
    feedback_count: int  # 8 bits, grows by one per feedback packet sent
    statuses: bytes
    deltas: list[int]

    @classmethod
    def from_deltas(
        cls,
        sender_ssrc: int,
        media_ssrc: int,
        base_sequence: int,
        reference_time: int,
        feedback_count: int,
        packets: list[int | None],
    ) -> TransportFeedback:
        """Feedback for ``packets``: each one's delta (250 µs units) or None when lost."""
        statuses = bytes(
            NOT_RECEIVED if d is None else SMALL_DELTA if 0 <= d <= 0xFF else LARGE_DELTA
            for d in packets
        )
        deltas = [d for d in packets if d is not None]
        return cls(
            sender_ssrc, media_ssrc, base_sequence, reference_time, feedback_count, statuses, deltas
        )

    def serialize(self) -> bytes:
        """The whole RTCP packet (header included), zero-padded to 32 bits."""
        count = len(self.statuses)
        if not 1 <= count <= MAX_STATUS_COUNT or len(self.deltas) != count - self.statuses.count(
            NOT_RECEIVED
        ):
            raise ValueError("1..65535 statuses, and one delta per received packet")
        body = bytearray(
            _HEAD.pack(
                self.sender_ssrc,
                self.media_ssrc,
                self.base_sequence & 0xFFFF,
                count,
                (self.reference_time & 0xFFFFFF) << 8 | (self.feedback_count & 0xFF),
            )
        )
        body += _chunks(self.statuses)
        symbols = (s for s in self.statuses if s != NOT_RECEIVED)
        for symbol, delta in zip(symbols, self.deltas, strict=True):
            if symbol == SMALL_DELTA:
                if not 0 <= delta <= 0xFF:
                    raise ValueError("a small delta is one unsigned byte")
                body.append(delta)
            elif symbol == LARGE_DELTA:
                if not -0x8000 <= delta <= 0x7FFF:
                    raise ValueError("a large delta is two signed bytes")
                body += _S16.pack(delta)
            else:
                raise ValueError("status symbols are 0, 1 or 2")
        body += bytes(-len(body) % 4)
        return _RTCP_HEADER.pack(0x80 | FMT_TRANSPORT_CC, 205, len(body) // 4) + bytes(body)

    def __bytes__(self) -> bytes:
        return self.serialize()


def _chunks(statuses: bytes) -> bytearray:
    """Greedy chunking: a run when at least 7 equal symbols follow, else a 1-bit vector when
    the next 14 fit in one bit, else a 2-bit vector (symbols past the end are padding, which
    the count tells the reader to ignore)."""
    out = bytearray()
    count = len(statuses)
    i = 0
    while i < count:
        symbol = statuses[i]
        run = 1
        while i + run < count and run < MAX_RUN and statuses[i + run] == symbol:
            run += 1
        if run >= _TWO_BIT_SYMBOLS:
            out += _U16.pack(symbol << 13 | run)
            i += run
            continue
        window = statuses[i : i + _ONE_BIT_SYMBOLS]
        if LARGE_DELTA not in window:
            value = 0x8000  # a vector of 1-bit symbols
            for position, bit in enumerate(window):
                value |= bit << (13 - position)
            out += _U16.pack(value)
            i += _ONE_BIT_SYMBOLS
        else:
            value = 0xC000  # a vector of 2-bit symbols
            for position, two in enumerate(statuses[i : i + _TWO_BIT_SYMBOLS]):
                value |= two << (12 - 2 * position)
            out += _U16.pack(value)
            i += _TWO_BIT_SYMBOLS
    return out


def parse_transport_feedback(data: bytes, body: int, length: int) -> TransportFeedback:
    """The transport-wide feedback whose body (after the 4-byte RTCP header, padding
    excluded) is ``data[body : body + length]``.

    Raises `MalformedPacket` when the body is shorter than its fixed part, the status count
    is 0, a chunk or delta overruns the body, or a symbol is the reserved value 3. Bytes
    after the last delta are padding and ignored (§3.1 allows zero padding to 32 bits)."""
    end = body + length
    if length < _HEAD.size or end > len(data) or body < 0:
        raise MalformedPacket("transport-wide feedback shorter than its fixed part")
    sender, media, base, count, reference = _HEAD.unpack_from(data, body)
    if count == 0:
        raise MalformedPacket("transport-wide feedback reporting no packet")
    position = body + _HEAD.size
    parts: list[bytes] = []
    seen = 0
    while seen < count:
        if position + 2 > end:
            raise MalformedPacket("transport-wide feedback chunks overrun the packet")
        chunk = _U16.unpack_from(data, position)[0]
        position += 2
        if not chunk & 0x8000:
            symbol = chunk >> 13 & 0x3
            if symbol == 3:
                raise MalformedPacket("reserved status symbol")
            run = min(chunk & MAX_RUN, count - seen)
            parts.append(bytes((symbol,)) * run)
            seen += run
        elif not chunk & 0x4000:
            take = min(_ONE_BIT_SYMBOLS, count - seen)
            parts.append(bytes(chunk >> (13 - k) & 1 for k in range(take)))
            seen += take
        else:
            take = min(_TWO_BIT_SYMBOLS, count - seen)
            symbols = bytes(chunk >> (12 - 2 * k) & 3 for k in range(take))
            if 3 in symbols:
                raise MalformedPacket("reserved status symbol")
            parts.append(symbols)
            seen += take
    statuses = b"".join(parts)
    small = statuses.count(SMALL_DELTA)
    large = statuses.count(LARGE_DELTA)
    if position + small + 2 * large > end:
        raise MalformedPacket("transport-wide feedback deltas overrun the packet")
    deltas: list[int] = []
    append = deltas.append
    if large == 0:
        deltas = list(data[position : position + small])
    else:
        for symbol in statuses:
            if symbol == SMALL_DELTA:
                append(data[position])
                position += 1
            elif symbol == LARGE_DELTA:
                append(_S16.unpack_from(data, position)[0])
                position += 2
    return TransportFeedback(
        sender, media, base, reference >> 8, reference & 0xFF, statuses, deltas
    )
