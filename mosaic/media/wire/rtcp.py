"""RTCP: the reports and feedback an SFU reads and writes, as dataclasses.

RFC 3550 §6.4 (SR, RR and report blocks), §6.6 (BYE); RFC 4585 §6.2.1 (generic NACK) and
§6.3.1 (PLI); RFC 5104 §4.3.1 (FIR); draft-alvestrand-rmcat-remb-03 §2 (REMB).

`parse_rtcp` walks a compound packet (RFC 3550 §6.1) and returns what it understands, in
order (transport-wide congestion control feedback, RTPFB FMT 15, is read by `twcc`). Packets
of types or formats the SFU has no use for (SDES, APP, XR, SLI, RPSI, other AFB) are
skipped; a broken length or version anywhere raises `MalformedPacket`, for the whole compound
packet: after a bad length nothing that follows can be trusted.

Every packet class serializes with ``serialize()`` (or ``bytes(packet)``); `compound` joins
several into one datagram.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from mosaic.media.wire.rtp import MalformedPacket
from mosaic.media.wire.serial import SEQ_MASK, seq_diff
from mosaic.media.wire.twcc import FMT_TRANSPORT_CC, TransportFeedback, parse_transport_feedback

SR, RR, SDES, BYE, APP, RTPFB, PSFB = 200, 201, 202, 203, 204, 205, 206
FMT_NACK = 1  # RTPFB
FMT_PLI, FMT_FIR, FMT_AFB = 1, 4, 15  # PSFB
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
REMB_MANTISSA_BITS = 18

_HEADER = struct.Struct("!BBH")
_U32 = struct.Struct("!I")
_TWO_U32 = struct.Struct("!II")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP, RTP timestamp, packets, octets
_BLOCK = struct.Struct("!IIIIII")  # SSRC, fraction|lost, highest, jitter, LSR, DLSR
_NACK_ITEM = struct.Struct("!HH")
_FIR_ENTRY = struct.Struct("!IB3x")
_REMB_HEAD = struct.Struct("!4sBBH")  # "REMB", SSRC count, exponent|mantissa high, low


# -- NTP time (RFC 3550 §4, RFC 5905 §6) ------------------------------------------------------


def ntp_from_unix(seconds: float) -> int:
    """The 64-bit NTP timestamp (32.32 fixed point since 1900) of a Unix time."""
    return int((seconds + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


def unix_from_ntp(ntp: int) -> float:
    """The Unix time of a 64-bit NTP timestamp (era 0, i.e. before 2036)."""
    return ntp / (1 << 32) - NTP_UNIX_OFFSET


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp (16.16 seconds): the LSR field of a report
    block, and the clock DLSR and round-trip times are counted in (RFC 3550 §6.4.1)."""
    return (ntp >> 16) & 0xFFFF_FFFF


def dlsr_from_seconds(delay: float) -> int:
    """The DLSR field (units of 1/65536 s) for a delay since the last sender report."""
    return int(delay * 65536) & 0xFFFF_FFFF


def round_trip_time(lsr: int, dlsr: int, arrival_ntp: int) -> float | None:
    """Round-trip time in seconds from a report block that answers one of our sender reports
    (RFC 3550 §6.4.1: A - LSR - DLSR), or None when the block carries no LSR."""
    if not lsr:
        return None
    rtt = (ntp_middle(arrival_ntp) - lsr - dlsr) & 0xFFFF_FFFF
    return None if rtt >= 0x8000_0000 else rtt / 65536


def _header(packet_type: int, count: int, body_size: int) -> bytes:
    if body_size % 4 or not 0 <= count <= 31:
        raise ValueError("RTCP bodies are whole 32-bit words and counts fit 5 bits")
    return _HEADER.pack(0x80 | count, packet_type, body_size // 4)


class _Serializable:
    __slots__ = ()

    def serialize(self) -> bytes:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        return self.serialize()


# -- reports -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ReportBlock(_Serializable):
    """Reception statistics for one source (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 0..255: lost / expected since the last report, times 256
    packets_lost: int  # cumulative, signed 24 bits (duplicates can make it negative)
    highest_sequence: int  # extended: cycles << 16 | highest sequence number
    jitter: int  # in RTP timestamp units
    lsr: int  # middle 32 bits of the NTP time of the last SR received, 0 if none
    dlsr: int  # delay since that SR, in 1/65536 s

    def serialize(self) -> bytes:
        lost = max(-0x80_0000, min(0x7F_FFFF, self.packets_lost)) & 0xFF_FFFF
        return _BLOCK.pack(
            self.ssrc,
            (self.fraction_lost & 0xFF) << 24 | lost,
            self.highest_sequence & 0xFFFF_FFFF,
            self.jitter & 0xFFFF_FFFF,
            self.lsr & 0xFFFF_FFFF,
            self.dlsr & 0xFFFF_FFFF,
        )


def _read_block(data: bytes, offset: int) -> ReportBlock:
    ssrc, loss, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
    lost = loss & 0xFF_FFFF
    if lost & 0x80_0000:
        lost -= 0x100_0000
    return ReportBlock(ssrc, loss >> 24, lost, highest, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport(_Serializable):
    """SR (RFC 3550 §6.4.1): what a source sent, and when, in NTP and RTP time."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = _SENDER_INFO.pack(
            self.ssrc,
            self.ntp_timestamp & 0xFFFF_FFFF_FFFF_FFFF,
            self.rtp_timestamp & 0xFFFF_FFFF,
            self.packet_count & 0xFFFF_FFFF,
            self.octet_count & 0xFFFF_FFFF,
        ) + b"".join(block.serialize() for block in self.reports)
        return _header(SR, len(self.reports), len(body)) + body


@dataclass(slots=True)
class ReceiverReport(_Serializable):
    """RR (RFC 3550 §6.4.2): reception statistics from a participant that does not send."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = _U32.pack(self.ssrc) + b"".join(block.serialize() for block in self.reports)
        return _header(RR, len(self.reports), len(body)) + body


@dataclass(slots=True)
class Bye(_Serializable):
    """BYE (RFC 3550 §6.6): these sources are gone (an optional reason is not kept)."""

    ssrcs: list[int]

    def serialize(self) -> bytes:
        body = b"".join(_U32.pack(ssrc) for ssrc in self.ssrcs)
        return _header(BYE, len(self.ssrcs), len(body)) + body


@dataclass(slots=True)
class SourceDescription(_Serializable):
    """SDES with one CNAME item per source (RFC 3550 §6.5.1), which every compound packet
    should carry (§6.1). Written only: `parse_rtcp` skips SDES."""

    chunks: list[tuple[int, str]]  # (SSRC, CNAME)

    def serialize(self) -> bytes:
        body = bytearray()
        for ssrc, cname in self.chunks:
            text = cname.encode()[:255]
            chunk = _U32.pack(ssrc) + bytes([1, len(text)]) + text + b"\x00"
            body += chunk + bytes(-len(chunk) % 4)
        return _header(SDES, len(self.chunks), len(body)) + bytes(body)


# -- feedback ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Nack(_Serializable):
    """Generic NACK (RFC 4585 §6.2.1): the media sender should resend these packets.

    On the wire each FCI item is a PID and a 16-bit mask (BLP) of the 16 numbers after it,
    so ``lost`` may wrap (65535, 0, 1 fit in one item). Serializing sorts and deduplicates
    ``lost`` in serial order (RFC 1982) around its first number."""

    sender_ssrc: int
    media_ssrc: int
    lost: list[int]

    def serialize(self) -> bytes:
        if not self.lost:
            raise ValueError("a NACK names at least one packet (RFC 4585 §6.1)")
        reference = self.lost[0]
        ordered = sorted(
            {seq & SEQ_MASK for seq in self.lost}, key=lambda s: seq_diff(s, reference)
        )
        body = bytearray(_TWO_U32.pack(self.sender_ssrc, self.media_ssrc))
        pid, mask = ordered[0], 0
        for seq in ordered[1:]:
            distance = (seq - pid) & SEQ_MASK
            if distance <= 16:
                mask |= 1 << (distance - 1)
            else:
                body += _NACK_ITEM.pack(pid, mask)
                pid, mask = seq, 0
        body += _NACK_ITEM.pack(pid, mask)
        return _header(RTPFB, FMT_NACK, len(body)) + bytes(body)


@dataclass(slots=True)
class Pli(_Serializable):
    """Picture loss indication (RFC 4585 §6.3.1): please send a keyframe."""

    sender_ssrc: int
    media_ssrc: int

    def serialize(self) -> bytes:
        return _header(PSFB, FMT_PLI, 8) + _TWO_U32.pack(self.sender_ssrc, self.media_ssrc)


@dataclass(slots=True)
class Fir(_Serializable):
    """Full intra request (RFC 5104 §4.3.1): entries of (media SSRC, command sequence
    number); the number grows by one per new request, so a repeat is recognised."""

    sender_ssrc: int
    entries: list[tuple[int, int]]

    def serialize(self) -> bytes:
        body = _TWO_U32.pack(self.sender_ssrc, 0) + b"".join(
            _FIR_ENTRY.pack(ssrc, number & 0xFF) for ssrc, number in self.entries
        )
        return _header(PSFB, FMT_FIR, len(body)) + body


@dataclass(slots=True)
class Remb(_Serializable):
    """Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb-03 §2.2), in bit/s,
    for the listed media SSRCs. On the wire: mantissa (18 bits) << exponent (6 bits), so a
    bitrate of 2^18 or more is rounded down to 18 significant bits."""

    sender_ssrc: int
    bitrate: int
    ssrcs: list[int]

    def serialize(self) -> bytes:
        bitrate = int(self.bitrate)
        if bitrate < 0 or len(self.ssrcs) > 255:
            raise ValueError("REMB takes a non-negative bitrate and at most 255 SSRCs")
        exponent = max(0, bitrate.bit_length() - REMB_MANTISSA_BITS)
        if exponent > 63:
            raise ValueError("REMB bitrate beyond its 6-bit exponent")
        mantissa = bitrate >> exponent
        body = _TWO_U32.pack(self.sender_ssrc, 0) + _REMB_HEAD.pack(
            b"REMB", len(self.ssrcs), exponent << 2 | mantissa >> 16, mantissa & 0xFFFF
        )
        body += b"".join(_U32.pack(ssrc) for ssrc in self.ssrcs)
        return _header(PSFB, FMT_AFB, len(body)) + body


RtcpPacket = SenderReport | ReceiverReport | Bye | Nack | Pli | Fir | Remb | TransportFeedback


def compound(*packets: RtcpPacket | SourceDescription) -> bytes:
    """One compound RTCP packet (RFC 3550 §6.1); put a report first when sending one."""
    return b"".join(packet.serialize() for packet in packets)


# -- parsing -----------------------------------------------------------------------------------


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """The packets of a compound RTCP packet that the SFU understands, in order.

    Raises `MalformedPacket` when any packet's version is not 2, its length overruns the
    datagram, its padding is inconsistent (RFC 3550 §6.4.1 "P"), or its body is too short
    for the count or feedback format it declares."""
    size = len(data)
    if size < 4:
        raise MalformedPacket("shorter than an RTCP header")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < size:
        if offset + 4 > size:
            raise MalformedPacket("truncated RTCP header")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise MalformedPacket("RTCP version is not 2")
        body = offset + 4
        end = body + (words << 2)
        if end > size:
            raise MalformedPacket("RTCP length overruns the packet")
        length = end - body
        if first & 0x20:
            padding = data[end - 1] if length else 0
            if padding == 0 or padding > length:
                raise MalformedPacket("bad RTCP padding count")
            length -= padding
        packet = _parse_one(data, body, length, packet_type, first & 0x1F)
        if packet is not None:
            packets.append(packet)
        offset = end
    return packets


def _need(length: int, needed: int) -> None:
    if length < needed:
        raise MalformedPacket("RTCP packet too short for what it declares")


def _blocks(data: bytes, start: int, count: int, room: int) -> list[ReportBlock]:
    _need(room, count * _BLOCK.size)
    return [_read_block(data, start + i * _BLOCK.size) for i in range(count)]


def _parse_one(
    data: bytes, body: int, length: int, packet_type: int, count: int
) -> RtcpPacket | None:
    if packet_type == SR:
        _need(length, _SENDER_INFO.size)
        ssrc, ntp, rtp_timestamp, packet_count, octets = _SENDER_INFO.unpack_from(data, body)
        blocks = _blocks(data, body + _SENDER_INFO.size, count, length - _SENDER_INFO.size)
        return SenderReport(ssrc, ntp, rtp_timestamp, packet_count, octets, blocks)
    if packet_type == RR:
        _need(length, 4)
        ssrc = _U32.unpack_from(data, body)[0]
        return ReceiverReport(ssrc, _blocks(data, body + 4, count, length - 4))
    if packet_type == BYE:
        _need(length, 4 * count)
        return Bye([_U32.unpack_from(data, body + 4 * i)[0] for i in range(count)])
    if packet_type == RTPFB:
        _need(length, 8)
        if count == FMT_TRANSPORT_CC:
            return parse_transport_feedback(data, body, length)
        return _nack(data, body, length) if count == FMT_NACK else None
    if packet_type == PSFB:
        _need(length, 8)
        sender, media = _TWO_U32.unpack_from(data, body)
        if count == FMT_PLI:
            return Pli(sender, media)
        if count == FMT_FIR:
            entries = (length - 8) // _FIR_ENTRY.size
            _need(entries, 1)
            return Fir(
                sender,
                [_FIR_ENTRY.unpack_from(data, body + 8 + 8 * i) for i in range(entries)],
            )
        if count == FMT_AFB and length >= 12 and data[body + 8 : body + 12] == b"REMB":
            return _remb(data, body, length, sender)
    return None


def _nack(data: bytes, body: int, length: int) -> Nack:
    sender, media = _TWO_U32.unpack_from(data, body)
    items = (length - 8) >> 2
    _need(items, 1)
    lost: list[int] = []
    append = lost.append
    for position in range(body + 8, body + 8 + 4 * items, 4):
        pid, mask = _NACK_ITEM.unpack_from(data, position)
        append(pid)
        bit = 1
        while mask:
            if mask & 1:
                append((pid + bit) & SEQ_MASK)
            mask >>= 1
            bit += 1
    return Nack(sender, media, lost)


def _remb(data: bytes, body: int, length: int, sender: int) -> Remb:
    _need(length, 16)
    _, count, exponent_mantissa, low = _REMB_HEAD.unpack_from(data, body + 8)
    _need(length, 16 + 4 * count)
    mantissa = (exponent_mantissa & 0x03) << 16 | low
    ssrcs = [_U32.unpack_from(data, body + 16 + 4 * i)[0] for i in range(count)]
    return Remb(sender, mantissa << (exponent_mantissa >> 2), ssrcs)
