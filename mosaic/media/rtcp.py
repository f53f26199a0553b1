"""RTCP: the reports and feedback messages an SFU reads and writes.

RFC 3550 §6.4 (sender and receiver reports), RFC 4585 §6.2.1 and §6.3.1 (generic NACK, PLI),
RFC 5104 §4.3.1 (FIR), draft-alvestrand-rmcat-remb (REMB). Compound packets are parsed whole;
types the SFU has no use for (SDES, APP, XR, transport-wide feedback) are skipped.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from mosaic.media.rtp import MalformedPacket

SR, RR, SDES, BYE, RTPFB, PSFB = 200, 201, 202, 203, 205, 206
FMT_NACK = 1
FMT_PLI, FMT_FIR, FMT_AFB = 1, 4, 15
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 to 1970

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!IIQII")
_SR_FIXED = struct.Struct("!IQIII")
_BLOCK = struct.Struct("!IB3sIIII")
_TWO_SSRC = struct.Struct("!II")
_NACK_ITEM = struct.Struct("!HH")
_FIR_ENTRY = struct.Struct("!IB3x")


def ntp_from_unix(seconds: float) -> int:
    """A 64-bit NTP timestamp (RFC 5905 §6) for a Unix time."""
    return int((seconds + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_now() -> int:
    return ntp_from_unix(time.time())


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as LSR carries it (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def _packet(packet_type: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise ValueError("RTCP bodies are whole 32-bit words")
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    def serialize(self) -> bytes:
        lost = self.packets_lost & 0xFFFFFF
        return _BLOCK.pack(
            self.ssrc,
            self.fraction_lost,
            lost.to_bytes(3, "big"),
            self.highest_sequence,
            self.jitter,
            self.lsr,
            self.dlsr,
        )

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        packets_lost = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, packets_lost, highest, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = _SR_FIXED.pack(
            self.ssrc,
            self.ntp_timestamp,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        body += b"".join(block.serialize() for block in self.reports)
        return _packet(SR, len(self.reports), body)


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = _SSRC.pack(self.ssrc) + b"".join(block.serialize() for block in self.reports)
        return _packet(RR, len(self.reports), body)


@dataclass(slots=True)
class Nack:
    """Generic NACK (RFC 4585 §6.2.1): lost sequence numbers as PID + bitmask items."""

    sender_ssrc: int
    media_ssrc: int
    lost: list[int]

    def serialize(self) -> bytes:
        items = bytearray()
        pending = sorted(set(self.lost), key=lambda s: (s - self.lost[0]) & 0xFFFF)
        while pending:
            pid = pending.pop(0)
            mask = 0
            rest = []
            for seq in pending:
                distance = (seq - pid) & 0xFFFF
                if 1 <= distance <= 16:
                    mask |= 1 << (distance - 1)
                else:
                    rest.append(seq)
            pending = rest
            items += _NACK_ITEM.pack(pid, mask)
        body = _TWO_SSRC.pack(self.sender_ssrc, self.media_ssrc) + bytes(items)
        return _packet(RTPFB, FMT_NACK, body)


@dataclass(slots=True)
class Pli:
    sender_ssrc: int
    media_ssrc: int

    def serialize(self) -> bytes:
        return _packet(PSFB, FMT_PLI, _TWO_SSRC.pack(self.sender_ssrc, self.media_ssrc))


@dataclass(slots=True)
class Fir:
    """Full intra request (RFC 5104 §4.3.1): (media SSRC, command sequence number) entries."""

    sender_ssrc: int
    entries: list[tuple[int, int]]

    def serialize(self) -> bytes:
        body = _TWO_SSRC.pack(self.sender_ssrc, 0)
        body += b"".join(_FIR_ENTRY.pack(ssrc, seq & 0xFF) for ssrc, seq in self.entries)
        return _packet(PSFB, FMT_FIR, body)


@dataclass(slots=True)
class Remb:
    """Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb §2.2)."""

    sender_ssrc: int
    bitrate: int
    ssrcs: list[int]

    def serialize(self) -> bytes:
        mantissa, exponent = max(0, int(self.bitrate)), 0
        while mantissa >= 1 << 18:
            mantissa >>= 1
            exponent += 1
        fci = b"REMB" + bytes([len(self.ssrcs), (exponent << 2) | (mantissa >> 16)])
        fci += (mantissa & 0xFFFF).to_bytes(2, "big")
        fci += b"".join(_SSRC.pack(ssrc) for ssrc in self.ssrcs)
        return _packet(PSFB, FMT_AFB, _TWO_SSRC.pack(self.sender_ssrc, 0) + fci)


@dataclass(slots=True)
class Bye:
    ssrcs: list[int]

    def serialize(self) -> bytes:
        return _packet(BYE, len(self.ssrcs), b"".join(_SSRC.pack(s) for s in self.ssrcs))


RtcpPacket = SenderReport | ReceiverReport | Nack | Pli | Fir | Remb | Bye


def compound(*packets: RtcpPacket) -> bytes:
    return b"".join(packet.serialize() for packet in packets)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP packet that the SFU understands."""
    packets: list[RtcpPacket] = []
    offset, size = 0, len(data)
    if size < 4:
        raise MalformedPacket("shorter than an RTCP header")
    while offset < size:
        if offset + 4 > size:
            raise MalformedPacket("truncated RTCP header")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise MalformedPacket("not RTCP version 2")
        end = offset + 4 + 4 * words
        if end > size:
            raise MalformedPacket("RTCP length overruns the packet")
        count = first & 0x1F
        body = offset + 4
        if first & 0x20:  # padding: the last octet says how much of this packet to ignore
            padding = data[end - 1]
            if padding == 0 or body + padding > end:
                raise MalformedPacket("bad RTCP padding")
            length = end - body - padding
        else:
            length = end - body
        parsed = _parse_one(data, body, length, packet_type, count)
        if parsed is not None:
            packets.append(parsed)
        offset = end
    return packets


def _need(length: int, needed: int) -> None:
    if length < needed:
        raise MalformedPacket("RTCP packet too short for its contents")


def _blocks(data: bytes, start: int, count: int, length_left: int) -> list[ReportBlock]:
    _need(length_left, count * _BLOCK.size)
    return [ReportBlock.parse(data, start + i * _BLOCK.size) for i in range(count)]


def _parse_one(
    data: bytes, body: int, length: int, packet_type: int, count: int
) -> RtcpPacket | None:
    if packet_type == SR:
        _need(length, _SR_FIXED.size)
        ssrc, ntp, rtp_ts, packets, octets = _SR_FIXED.unpack_from(data, body)
        reports = _blocks(data, body + _SR_FIXED.size, count, length - _SR_FIXED.size)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports)
    if packet_type == RR:
        _need(length, 4)
        ssrc = _SSRC.unpack_from(data, body)[0]
        return ReceiverReport(ssrc, _blocks(data, body + 4, count, length - 4))
    if packet_type == BYE:
        _need(length, 4 * count)
        return Bye([_SSRC.unpack_from(data, body + 4 * i)[0] for i in range(count)])
    if packet_type == RTPFB and count == FMT_NACK:
        _need(length, 8)
        sender, media = _TWO_SSRC.unpack_from(data, body)
        lost = []
        for item in range(body + 8, body + length - 3, 4):
            pid, mask = _NACK_ITEM.unpack_from(data, item)
            lost.append(pid)
            lost.extend((pid + bit + 1) & 0xFFFF for bit in range(16) if mask >> bit & 1)
        return Nack(sender, media, lost)
    if packet_type == PSFB:
        _need(length, 8)
        sender, media = _TWO_SSRC.unpack_from(data, body)
        if count == FMT_PLI:
            return Pli(sender, media)
        if count == FMT_FIR:
            entries = [
                _FIR_ENTRY.unpack_from(data, entry)
                for entry in range(body + 8, body + length - 7, 8)
            ]
            return Fir(sender, entries)
        if count == FMT_AFB and length >= 16 and data[body + 8 : body + 12] == b"REMB":
            number = data[body + 12]
            exponent = data[body + 13] >> 2
            mantissa = ((data[body + 13] & 0x03) << 16) | int.from_bytes(
                data[body + 14 : body + 16], "big"
            )
            _need(length, 16 + 4 * number)
            ssrcs = [_SSRC.unpack_from(data, body + 16 + 4 * i)[0] for i in range(number)]
            return Remb(sender, mantissa << exponent, ssrcs)
    return None
