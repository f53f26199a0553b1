"""RTP headers, read and written at the speed of the forwarding path (RFC 3550 §5.1).

The SFU never needs a packet's payload, only a few header fields and header extensions
(RFC 8285): it reads them in place and builds each outgoing packet as a fresh fixed header, a
fresh extension block in the receiver's numbering, and the untouched payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
FIXED_HEADER = 12
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE_MASK = 0xFFF0
TWO_BYTE_PROFILE = 0x1000

_FIXED = struct.Struct("!BBHII")
_U16 = struct.Struct("!H")
_EXTENSION_HEADER = struct.Struct("!HH")


class MalformedPacket(ValueError):
    """An RTP or RTCP packet that does not follow its RFC; dropped, never forwarded."""


@dataclass(slots=True)
class ExtensionIds:
    """Header-extension ids negotiated with one peer (0: not negotiated)."""

    audio_level: int = 0
    abs_send_time: int = 0
    mid: int = 0
    rid: int = 0
    repaired_rid: int = 0


@dataclass(slots=True)
class RtpHeader:
    payload_type: int
    marker: bool
    sequence_number: int
    timestamp: int
    ssrc: int
    payload_offset: int
    payload_end: int
    audio_level: int | None = None
    voice_activity: bool = False
    mid: str | None = None
    rid: str | None = None
    repaired_rid: str | None = None

    @property
    def payload_size(self) -> int:
        return self.payload_end - self.payload_offset


def is_rtcp(data: bytes) -> bool:
    """RTP and RTCP share a port (RFC 5761 §4): RTCP packet types are 192..223."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse_rtp(data: bytes, ids: ExtensionIds) -> RtpHeader:
    """Read the header fields the SFU needs; raise `MalformedPacket` for anything broken."""
    size = len(data)
    if size < FIXED_HEADER:
        raise MalformedPacket("shorter than an RTP header")
    first, second, sequence_number, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise MalformedPacket("not RTP version 2")
    offset = FIXED_HEADER + 4 * (first & 0x0F)
    if offset > size:
        raise MalformedPacket("CSRC list overruns the packet")
    header = RtpHeader(
        payload_type=second & 0x7F,
        marker=bool(second & 0x80),
        sequence_number=sequence_number,
        timestamp=timestamp,
        ssrc=ssrc,
        payload_offset=offset,
        payload_end=size,
    )
    if first & 0x10:
        if offset + 4 > size:
            raise MalformedPacket("extension header overruns the packet")
        profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
        start = offset + 4
        offset = start + 4 * words
        if offset > size:
            raise MalformedPacket("extension overruns the packet")
        if profile == ONE_BYTE_PROFILE:
            _read_one_byte_extensions(data, start, offset, ids, header)
        elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
            _read_two_byte_extensions(data, start, offset, ids, header)
        header.payload_offset = offset
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or offset + padding > size:
            raise MalformedPacket("bad padding length")
        header.payload_end = size - padding
    return header


def _read_one_byte_extensions(
    data: bytes, position: int, end: int, ids: ExtensionIds, header: RtpHeader
) -> None:
    # RFC 8285 §4.2: ID in the high nibble, length-1 in the low; ID 0 is padding, 15 stops.
    while position < end:
        byte = data[position]
        if byte == 0:
            position += 1
            continue
        ext_id = byte >> 4
        if ext_id == 15:
            return
        length = (byte & 0x0F) + 1
        position += 1
        if position + length > end:
            raise MalformedPacket("header extension overruns its block")
        _take(ext_id, data, position, length, ids, header)
        position += length


def _read_two_byte_extensions(
    data: bytes, position: int, end: int, ids: ExtensionIds, header: RtpHeader
) -> None:
    # RFC 8285 §4.3: one byte of ID, one byte of length.
    while position < end:
        ext_id = data[position]
        if ext_id == 0:
            position += 1
            continue
        if position + 2 > end:
            raise MalformedPacket("header extension overruns its block")
        length = data[position + 1]
        position += 2
        if position + length > end:
            raise MalformedPacket("header extension overruns its block")
        _take(ext_id, data, position, length, ids, header)
        position += length


def _take(
    ext_id: int, data: bytes, position: int, length: int, ids: ExtensionIds, header: RtpHeader
) -> None:
    if ext_id == ids.audio_level:
        # RFC 6464 §3: V bit, then the level in -dBov (0 loudest, 127 silence).
        header.audio_level = data[position] & 0x7F
        header.voice_activity = bool(data[position] & 0x80)
    elif ext_id == ids.rid:
        header.rid = _ascii(data, position, length)
    elif ext_id == ids.repaired_rid:
        header.repaired_rid = _ascii(data, position, length)
    elif ext_id == ids.mid:
        header.mid = _ascii(data, position, length)


def _ascii(data: bytes, position: int, length: int) -> str:
    raw = bytes(data[position : position + length]).rstrip(b"\x00")
    if not raw or not raw.isascii() or not raw.isalnum():
        raise MalformedPacket("RID/MID must be alphanumeric ASCII")
    return raw.decode("ascii")


# -- writing -----------------------------------------------------------------------------------


def extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """A one-byte-header extension block (RFC 8285 §4.2), padded to 32 bits; b"" if empty."""
    if not elements:
        return b""
    body = bytearray()
    for ext_id, value in elements:
        if not 1 <= ext_id <= 14 or not 1 <= len(value) <= 16:
            raise ValueError("one-byte header extensions take ids 1-14 and 1-16 bytes")
        body.append((ext_id << 4) | (len(value) - 1))
        body += value
    body += b"\x00" * (-len(body) % 4)
    return _EXTENSION_HEADER.pack(ONE_BYTE_PROFILE, len(body) // 4) + bytes(body)


def build_template(data: bytes, header: RtpHeader, extensions: bytes) -> bytearray:
    """An outgoing packet with a placeholder fixed header: ``extensions`` (from
    `extension_block`) replaces the original ones, the payload is copied as is, padding is
    dropped. `stamp` fills in the fixed header for each receiver in turn."""
    template = bytearray(FIXED_HEADER)
    template[0] = 0x90 if extensions else 0x80
    template += extensions
    template += memoryview(data)[header.payload_offset : header.payload_end]
    return template


def stamp(
    template: bytearray,
    payload_type: int,
    marker: bool,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
) -> None:
    """Write one receiver's fixed header into a template, in place."""
    _FIXED.pack_into(
        template,
        0,
        template[0],
        payload_type | (0x80 if marker else 0),
        sequence_number,
        timestamp,
        ssrc,
    )


def abs_send_time(seconds: float) -> bytes:
    """The abs-send-time value: 24 bits, 6.18 fixed-point seconds, wrapping every 64 s."""
    value = int(seconds * (1 << 18)) & 0xFFFFFF
    return value.to_bytes(3, "big")


def build_rtp(
    *,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool = False,
    extensions: bytes = b"",
    padding: int = 0,
) -> bytes:
    """A whole RTP packet (tests, synthetic sources, RTX)."""
    first = 0x80 | (0x10 if extensions else 0) | (0x20 if padding else 0)
    packet = _FIXED.pack(
        first, payload_type | (0x80 if marker else 0), sequence_number, timestamp, ssrc
    )
    packet += extensions + payload
    if padding:
        packet += b"\x00" * (padding - 1) + bytes([padding])
    return packet


def build_rtx(
    template: bytearray,
    *,
    original_sequence_number: int,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
) -> bytes:
    """A retransmission in the RTX format (RFC 4588 §4): the original sequence number, then
    the original payload, on the RTX stream's own SSRC and sequence numbers. ``template`` is
    an outgoing template (fixed header, extensions, payload)."""
    first = template[0]
    header_length = FIXED_HEADER
    if first & 0x10:
        words = _U16.unpack_from(template, FIXED_HEADER + 2)[0]
        header_length += 4 + 4 * words
    packet = bytearray(template[:header_length])
    _FIXED.pack_into(packet, 0, first, payload_type, sequence_number, timestamp, ssrc)
    packet += _U16.pack(original_sequence_number)
    packet += template[header_length:]
    return bytes(packet)


def unwrap_rtx(data: bytes, header: RtpHeader) -> tuple[int, int]:
    """(original sequence number, offset of the original payload) of an RTX packet."""
    if header.payload_size < 2:
        raise MalformedPacket("RTX packet without an original sequence number")
    return _U16.unpack_from(data, header.payload_offset)[0], header.payload_offset + 2
