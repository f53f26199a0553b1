"""RTP headers, read and written at the speed of the forwarding path (RFC 3550 §5.1).

The SFU never decodes a payload. Per incoming packet it reads the fixed header and the few
header extensions (RFC 8285) it acts on; per outgoing copy it writes a fresh 12-byte header.

Outgoing packets are built in two steps so that the per-subscriber work is one
``Struct.pack_into`` and one ``bytes()`` copy:

1. `RtpWriter.template` builds, once per incoming packet, a ``bytearray`` laid out as::

       0      12          16   17     19   20          24
       | fixed | BE DE 00 02 | id | seq | id | value   | payload (original, no RTP padding)
       | header| one-byte extension block: transport-wide sequence number, then one more |

   with no CSRCs, the publisher's extensions replaced by elements in the subscriber-side
   numbering: first the transport-wide sequence number (draft-holmer-rmcat-transport-wide-
   cc-extensions-01 §2: two bytes, at ``TRANSPORT_SEQUENCE_OFFSET`` == 17, written per
   receiver by `set_transport_sequence`, as each connection counts its own), then the audio
   level (RFC 6464) for audio, abs-send-time for video (its three value bytes start at
   ``RtpWriter.abs_send_time_offset`` == 20), zero-padded to 32 bits. An audio packet that
   came without a level has padding bytes in the level's place. Extensions that are not
   negotiated are left out (without any, the payload starts at byte 12; without the
   transport-wide number, the other element starts at byte 16).
2. `stamp` patches payload type, marker, sequence number, timestamp and SSRC (bytes 1..11)
   for one subscriber, and `set_transport_sequence` that connection's number; the caller
   then takes ``bytes(template)`` and encrypts it. The same template is stamped again for
   the next subscriber.

Every parser raises `MalformedPacket` (a ``ValueError``) for any malformed input, and nothing
else: callers count and drop such packets.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

RTP_VERSION = 2
FIXED_HEADER_SIZE = 12
ONE_BYTE_PROFILE = 0xBEDE  # RFC 8285 §4.2
TWO_BYTE_PROFILE = 0x1000  # RFC 8285 §4.3: 0x100 then 4 "appbits"
TWO_BYTE_PROFILE_MASK = 0xFFF0
# abs-send-time: 24-bit 6.18 fixed-point seconds (webrtc.org/experiments/rtp-hdrext/abs-send-time).
ABS_SEND_TIME_SCALE = 1 << 18
# Where RtpWriter puts the transport-wide sequence number (the first element of its block):
# after the fixed header, the extension header and the element's one-byte id/length.
TRANSPORT_SEQUENCE_OFFSET = FIXED_HEADER_SIZE + 4 + 1
# Where it puts abs-send-time: after that, or first when transport-cc is not negotiated.
ABS_SEND_TIME_OFFSET = TRANSPORT_SEQUENCE_OFFSET + 3

_FIXED = struct.Struct("!BBHII")
_STAMP = struct.Struct("!BHII")  # byte 1 (M, PT) .. SSRC: what differs per subscriber
_U16 = struct.Struct("!H")
_U16_U8 = struct.Struct("!HB")
_EXTENSION_HEADER = struct.Struct("!HH")
# RFC 8866 §9 token characters: what MID (RFC 8843 §15) and RID (RFC 8851 §10, a subset)
# values are made of. `bytes.translate` deletes them; anything left over is invalid.
_TOKEN_CHARS = bytes(
    c for c in range(0x21, 0x7F) if c not in b'"(),/:;<=>?@[\\]'
)  # fmt: skip


class MalformedPacket(ValueError):
    """An RTP or RTCP packet that does not follow its RFC: counted and dropped, never
    forwarded."""


@dataclass(slots=True)
class ExtensionIds:
    """The header-extension ids (RFC 8285 §5, from SDP ``a=extmap``) negotiated with one
    peer; 0 means not negotiated, and such an extension is neither read nor written."""

    audio_level: int = 0
    abs_send_time: int = 0
    mid: int = 0
    rid: int = 0
    repaired_rid: int = 0
    transport_cc: int = 0  # draft-holmer-rmcat-transport-wide-cc-extensions-01 §2


@dataclass(slots=True)
class RtpHeader:
    """What the SFU reads from one RTP packet; offsets index the packet it came from."""

    payload_type: int
    marker: bool
    sequence_number: int
    timestamp: int
    ssrc: int
    payload_offset: int  # first payload byte
    payload_end: int  # one past the last payload byte, RTP padding excluded
    audio_level: int | None = None  # RFC 6464 §3: 0..127, in -dBov (127: silence)
    voice_activity: bool = False
    mid: str | None = None  # RFC 8843 §15
    rid: str | None = None  # RFC 8852 §3.1 RtpStreamId
    repaired_rid: str | None = None  # RFC 8852 §3.2 RepairedRtpStreamId
    abs_send_time: int | None = None  # 24 bits, 6.18 fixed-point seconds
    transport_sequence: int | None = None  # 16 bits, one counter per connection
    # Set by the SFU (`UpStream.template`), not parsed here: a VP8 packet's PictureID and
    # TL0PICIDX as `codecs.vp8_picture_ids` gives them, offsets into the outgoing template.
    vp8_ids: tuple[int, int, int, int, int] | None = None

    @property
    def payload_size(self) -> int:
        """Payload bytes, padding excluded: 0 for a padding-only (probing) packet."""
        return self.payload_end - self.payload_offset


def is_rtcp(data: bytes) -> bool:
    """Whether a packet on a muxed RTP/RTCP port is RTCP (RFC 5761 §4): version 2 and a
    second byte in 192..223 (RTCP packet types; RTP avoids payload types 64..95 for this)."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


def parse_rtp(data: bytes, ids: ExtensionIds) -> RtpHeader:
    """Read an RTP packet's header (RFC 3550 §5.1) and the extensions ``ids`` names.

    Raises `MalformedPacket` for a wrong version, a packet shorter than its header, CSRC list
    or extension block, an extension element that overruns its block, a zero or oversized
    padding count (RFC 3550 §5.1 "P"), or a MID/RID that is not an ASCII token.
    """
    size = len(data)
    if size < FIXED_HEADER_SIZE:
        raise MalformedPacket("shorter than the RTP fixed header")
    first, second, sequence_number, timestamp, ssrc = _FIXED.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise MalformedPacket("RTP version is not 2")
    end = size
    if first & 0x20:
        padding = data[-1]
        if padding == 0:
            raise MalformedPacket("RTP padding count of zero")
        end -= padding
    offset = FIXED_HEADER_SIZE + ((first & 0x0F) << 2)
    if offset > end:
        raise MalformedPacket("CSRC list or padding overruns the packet")
    extension_start = 0
    profile = 0
    if first & 0x10:
        if offset + 4 > end:
            raise MalformedPacket("extension header overruns the packet")
        profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
        extension_start = offset + 4
        offset = extension_start + (words << 2)
        if offset > end:
            raise MalformedPacket("extension block overruns the packet")
    header = RtpHeader(second & 0x7F, second > 0x7F, sequence_number, timestamp, ssrc, offset, end)
    if extension_start and (
        ids.audio_level
        or ids.abs_send_time
        or ids.mid
        or ids.rid
        or ids.repaired_rid
        or ids.transport_cc
    ):
        if profile == ONE_BYTE_PROFILE:
            _one_byte_elements(data, extension_start, offset, ids, header)
        elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
            _two_byte_elements(data, extension_start, offset, ids, header)
        # Any other profile is not RFC 8285: skipped whole, as RFC 3550 §5.3.1 allows.
    return header


def _one_byte_elements(
    data: bytes, position: int, end: int, ids: ExtensionIds, header: RtpHeader
) -> None:
    # RFC 8285 §4.2: a byte of ID (4 bits) and length - 1 (4 bits); 0 is a padding byte, and
    # ID 15 ends processing of the whole block.
    while position < end:
        byte = data[position]
        position += 1
        if byte == 0:
            continue
        ext_id = byte >> 4
        if ext_id == 15:
            return
        stop = position + (byte & 0x0F) + 1
        if stop > end:
            raise MalformedPacket("header extension overruns its block")
        _element(ext_id, data, position, stop, ids, header)
        position = stop


def _two_byte_elements(
    data: bytes, position: int, end: int, ids: ExtensionIds, header: RtpHeader
) -> None:
    # RFC 8285 §4.3: a byte of ID, a byte of length (0 allowed); ID 0 is a padding byte.
    while position < end:
        ext_id = data[position]
        if ext_id == 0:
            position += 1
            continue
        if position + 2 > end:
            raise MalformedPacket("header extension overruns its block")
        start = position + 2
        stop = start + data[position + 1]
        if stop > end:
            raise MalformedPacket("header extension overruns its block")
        _element(ext_id, data, start, stop, ids, header)
        position = stop


def _element(
    ext_id: int, data: bytes, start: int, stop: int, ids: ExtensionIds, header: RtpHeader
) -> None:
    if ext_id == 0:
        # RFC 8285 reserves ID 0 (a one-byte element can still carry it with a length):
        # no extension's, and 0 in `ExtensionIds` is one not negotiated, so never a match.
        return
    if ext_id == ids.audio_level:
        if stop == start:
            raise MalformedPacket("empty audio level")
        value = data[start]
        header.audio_level = value & 0x7F
        header.voice_activity = value > 0x7F
    elif ext_id == ids.abs_send_time:
        if stop - start != 3:
            raise MalformedPacket("abs-send-time is not 3 bytes")
        high, low = _U16_U8.unpack_from(data, start)
        header.abs_send_time = high << 8 | low
    elif ext_id == ids.rid:
        header.rid = _sdes_token(data, start, stop)
    elif ext_id == ids.mid:
        header.mid = _sdes_token(data, start, stop)
    elif ext_id == ids.repaired_rid:
        header.repaired_rid = _sdes_token(data, start, stop)
    elif ext_id == ids.transport_cc:
        if stop - start != 2:
            raise MalformedPacket("transport-wide sequence number is not 2 bytes")
        header.transport_sequence = _U16.unpack_from(data, start)[0]


def _sdes_token(data: bytes, start: int, stop: int) -> str:
    # RFC 7941 §4 SDES items carry no terminator, but some senders pad them with NULs.
    raw = bytes(data[start:stop]).rstrip(b"\x00")
    if not raw or raw.translate(None, _TOKEN_CHARS):
        raise MalformedPacket("MID/RID is not an ASCII token")
    return raw.decode("ascii")


# -- writing -------------------------------------------------------------------------------


class RtpWriter:
    """Builds outgoing templates (see the module docstring) for down tracks of one kind whose
    peers share one extension numbering, ``ids``: Mosaic numbers every subscribe connection
    alike, so one template per incoming packet serves every subscriber.

    Every packet carries a transport-wide sequence number (when negotiated), which the
    receiver's transport-wide feedback reports back. Audio carries the publisher's audio
    level (and V bit) on, so that receivers can show who speaks. Video carries abs-send-time,
    which a REMB-only receiver's bandwidth estimator reads: its value belongs to the moment
    of sending, written by `set_abs_send_time` at ``abs_send_time_offset``.
    """

    __slots__ = (
        "_level_offset",
        "_plain",
        "_prefix",
        "abs_send_time_offset",
        "audio",
        "transport_sequence_offset",
    )

    def __init__(self, kind: str, ids: ExtensionIds) -> None:
        self.audio = kind == "audio"
        ext_id = ids.audio_level if self.audio else ids.abs_send_time
        if not 0 <= ext_id <= 14 or not 0 <= ids.transport_cc <= 14:
            raise ValueError("one-byte header extensions take ids 1..14 (RFC 8285 §4.2)")
        self._plain = bytes([0x80]) + bytes(FIXED_HEADER_SIZE - 1)
        self.abs_send_time_offset: int | None = None
        self.transport_sequence_offset: int | None = None
        self._level_offset = 0
        elements = bytearray()
        if ids.transport_cc:
            elements += bytes([ids.transport_cc << 4 | 1, 0, 0])
            self.transport_sequence_offset = TRANSPORT_SEQUENCE_OFFSET
        if ext_id:
            value_offset = FIXED_HEADER_SIZE + 4 + len(elements) + 1
            if self.audio:
                elements += bytes([ext_id << 4, 0])
                self._level_offset = value_offset
            else:
                elements += bytes([ext_id << 4 | 2, 0, 0, 0])
                self.abs_send_time_offset = value_offset
        if not elements:
            self._prefix = self._plain
            return
        elements += bytes(-len(elements) % 4)
        self._prefix = (
            bytes([0x90, *bytes(11)])
            + _EXTENSION_HEADER.pack(ONE_BYTE_PROFILE, len(elements) // 4)
            + bytes(elements)
        )

    def template(self, data: bytes, header: RtpHeader) -> bytearray:
        """The outgoing packet for ``data``, its fixed header still to be stamped."""
        template = bytearray(self._prefix)
        level_offset = self._level_offset
        if level_offset:
            level = header.audio_level
            if level is not None:
                template[level_offset] = level | 0x80 if header.voice_activity else level
            else:
                # No level came: the element becomes padding (RFC 8285 §4.2: zero bytes),
                # the transport-wide number stays where every connection writes it.
                template[level_offset - 1] = 0
                if self.transport_sequence_offset is None:
                    template = bytearray(self._plain)
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
    """Write one subscriber's fixed-header fields into ``template`` (bytes 1..11), in place;
    byte 0 (version, X bit) stays as `RtpWriter` set it."""
    _STAMP.pack_into(
        template,
        1,
        payload_type | 0x80 if marker else payload_type,
        sequence_number,
        timestamp,
        ssrc,
    )


def set_transport_sequence(template: bytearray, sequence_number: int) -> None:
    """Write one connection's transport-wide sequence number (16 bits) into a template made
    by a writer that negotiated it (at ``TRANSPORT_SEQUENCE_OFFSET``)."""
    _U16.pack_into(template, TRANSPORT_SEQUENCE_OFFSET, sequence_number & 0xFFFF)


def set_abs_send_time(template: bytearray, offset: int, seconds: float) -> None:
    """Write abs-send-time for the sending moment ``seconds`` (any clock: receivers use only
    differences, modulo the 64 s wrap) at ``offset`` (`RtpWriter.abs_send_time_offset`)."""
    value = int(seconds * ABS_SEND_TIME_SCALE) & 0xFFFFFF
    _U16_U8.pack_into(template, offset, value >> 8, value & 0xFF)


def abs_send_time_from_ntp(ntp: int) -> int:
    """abs-send-time from a 64-bit NTP timestamp: its bits 14..37 (6.18 seconds)."""
    return (ntp >> 14) & 0xFFFFFF


def abs_send_time(seconds: float) -> bytes:
    """The three abs-send-time value bytes for ``seconds``."""
    return (int(seconds * ABS_SEND_TIME_SCALE) & 0xFFFFFF).to_bytes(3, "big")


def extension_block(elements: Sequence[tuple[int, bytes]], two_byte: bool = False) -> bytes:
    """An RFC 8285 extension block (header and elements, zero-padded to 32 bits); b"" when
    there are no elements. One-byte form: ids 1..14, values of 1..16 bytes (§4.2); two-byte
    form: ids 1..255, values of 0..255 bytes (§4.3)."""
    if not elements:
        return b""
    body = bytearray()
    for ext_id, value in elements:
        if two_byte:
            if not 1 <= ext_id <= 255 or len(value) > 255:
                raise ValueError("two-byte header extensions take ids 1..255, 0..255 bytes")
            body += bytes([ext_id, len(value)])
        else:
            if not 1 <= ext_id <= 14 or not 1 <= len(value) <= 16:
                raise ValueError("one-byte header extensions take ids 1..14, 1..16 bytes")
            body.append(ext_id << 4 | (len(value) - 1))
        body += value
    body += bytes(-len(body) % 4)
    profile = TWO_BYTE_PROFILE if two_byte else ONE_BYTE_PROFILE
    return _EXTENSION_HEADER.pack(profile, len(body) // 4) + bytes(body)


def build_rtp(
    *,
    payload_type: int,
    sequence_number: int,
    timestamp: int,
    ssrc: int,
    payload: bytes = b"",
    marker: bool = False,
    csrcs: Sequence[int] = (),
    extensions: Sequence[tuple[int, bytes]] | bytes = (),
    two_byte: bool = False,
    padding: int = 0,
) -> bytes:
    """A whole RTP packet, for tests and synthetic peers. ``extensions`` is a list of
    (id, value) elements or a ready `extension_block`; ``padding`` counts the padding bytes
    (RFC 3550 §5.1), the last of which holds the count."""
    if len(csrcs) > 15 or not 0 <= padding <= 255:
        raise ValueError("at most 15 CSRCs and 255 padding bytes")
    block = extensions if isinstance(extensions, bytes) else extension_block(extensions, two_byte)
    first = 0x80 | (0x20 if padding else 0) | (0x10 if block else 0) | len(csrcs)
    packet = bytearray(
        _FIXED.pack(first, payload_type | (0x80 if marker else 0), sequence_number, timestamp, ssrc)
    )
    for csrc in csrcs:
        packet += csrc.to_bytes(4, "big")
    packet += block
    packet += payload
    if padding:
        packet += bytes(padding - 1) + bytes([padding])
    return bytes(packet)


def _header_end(packet: bytes | bytearray) -> tuple[int, int]:
    """(end of fixed header + CSRCs + extensions, end of payload) of a whole packet."""
    size = len(packet)
    if size < FIXED_HEADER_SIZE or packet[0] >> 6 != RTP_VERSION:
        raise MalformedPacket("not an RTP packet")
    first = packet[0]
    end = size - packet[-1] if first & 0x20 else size
    offset = FIXED_HEADER_SIZE + ((first & 0x0F) << 2)
    if first & 0x10:
        if offset + 4 > end:
            raise MalformedPacket("extension header overruns the packet")
        offset += 4 + (_U16.unpack_from(packet, offset + 2)[0] << 2)
    if offset > end or (first & 0x20 and packet[-1] == 0):
        raise MalformedPacket("RTP header or padding overruns the packet")
    return offset, end


def build_rtx(
    packet: bytes | bytearray,
    *,
    rtx_payload_type: int,
    rtx_sequence_number: int,
    rtx_ssrc: int,
    original_sequence_number: int | None = None,
) -> bytes:
    """A retransmission of ``packet`` in the RTX format (RFC 4588 §4): the RTX stream's
    payload type, sequence number and SSRC; the original's timestamp, marker, CSRCs and
    extensions; payload = 2-byte original sequence number + original payload (padding
    dropped). ``packet`` is normally a stamped template, whose own sequence number is the
    original one (the default for ``original_sequence_number``)."""
    header_end, end = _header_end(packet)
    if original_sequence_number is None:
        original_sequence_number = _U16.unpack_from(packet, 2)[0]
    timestamp = _FIXED.unpack_from(packet)[3]
    rtx = bytearray(end + 2)
    rtx[:header_end] = packet[:header_end]
    rtx[0] = packet[0] & 0xDF  # padding dropped
    _STAMP.pack_into(
        rtx, 1, rtx_payload_type | (packet[1] & 0x80), rtx_sequence_number, timestamp, rtx_ssrc
    )
    _U16.pack_into(rtx, header_end, original_sequence_number)
    rtx[header_end + 2 :] = packet[header_end:end]
    return bytes(rtx)


def unwrap_rtx(data: bytes, header: RtpHeader) -> tuple[int, int]:
    """(original sequence number, offset of the original payload) of an incoming RTX packet
    (RFC 4588 §4) parsed as ``header``; the original payload ends at ``header.payload_end``.
    A padding-only RTX packet (a bandwidth probe) has no original: `MalformedPacket`."""
    if header.payload_size < 2 or header.payload_end > len(data) or header.payload_offset < 0:
        raise MalformedPacket("RTX packet without an original sequence number")
    return _U16.unpack_from(data, header.payload_offset)[0], header.payload_offset + 2


def rtx_original(data: bytes, header: RtpHeader, *, payload_type: int, ssrc: int) -> bytes:
    """The original packet an RTX packet carries: its header with the media payload type,
    original sequence number and media SSRC, its extensions kept, the payload unwrapped."""
    original_sequence_number, start = unwrap_rtx(data, header)
    header_end = header.payload_offset
    packet = bytearray(header_end + header.payload_end - start)
    packet[:header_end] = data[:header_end]
    packet[0] &= 0xDF
    _STAMP.pack_into(
        packet,
        1,
        payload_type | (0x80 if header.marker else 0),
        original_sequence_number,
        header.timestamp,
        ssrc,
    )
    packet[header_end:] = data[start : header.payload_end]
    return bytes(packet)
