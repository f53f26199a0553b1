"""Just enough of each video RTP payload format to see keyframes and picture sizes.

A subscriber can only start decoding at a keyframe, so a new subscriber and a simulcast switch
wait for one; everything else in a payload stays opaque to the SFU (and may be end-to-end
encrypted: only the payload descriptor, which SFrame/Encoded Transform leave in the clear for
VP8, is then meaningful; a False here just means "wait for the next one").

The detectors read the first packet of a frame only, never raise, and answer False for
anything unreadable or truncated: garbage must not start a switch.
"""

from __future__ import annotations

from collections.abc import Callable

Payload = bytes | bytearray | memoryview

# H.264 NAL unit types (RFC 6184 §5.4; ITU-T H.264 table 7-1).
_H264_IDR, _H264_SPS = 5, 7
_H264_STAP_A, _H264_FU_A = 24, 28
_VP8_START_CODE = b"\x9d\x01\x2a"


def vp8_descriptor_size(payload: Payload) -> int:
    """Bytes of the VP8 payload descriptor (RFC 7741 §4.2), or 0 when it is truncated."""
    size = len(payload)
    if size < 1:
        return 0
    if not payload[0] & 0x80:  # X: no extension byte
        return 1
    if size < 2:
        return 0
    extension = payload[1]
    length = 2
    if extension & 0x80:  # I: a 7- or 15-bit PictureID, by its M bit
        if size <= length:
            return 0
        length += 2 if payload[length] & 0x80 else 1
    if extension & 0x40:  # L: TL0PICIDX
        length += 1
    if extension & 0x30:  # T or K: the TID/Y/KEYIDX byte
        length += 1
    return length if length <= size else 0


Vp8Ids = tuple[int, int, int, int, int]


def vp8_picture_ids(packet: Payload, start: int = 0, end: int | None = None) -> Vp8Ids | None:
    """Where the VP8 payload descriptor (RFC 7741 §4.2) of the payload ``packet[start:end]``
    keeps its PictureID and TL0PICIDX, and their values: ``(picture_id_at, picture_id, mask,
    tl0picidx_at, tl0picidx)``, offsets into ``packet`` (0: that field is absent), ``mask``
    0x7F or 0x7FFF by the M bit. None when neither is present, or the descriptor is
    truncated. Never raises.

    Read once per packet, in the outgoing template (`UpStream.template`), so that each down
    track only adds its offsets: simulcast layers number their pictures independently, and a
    receiver switched between them must still see one sequence (see `DownTrack.write`)."""
    try:
        if end is None:
            end = len(packet)
        if end - start < 2 or not packet[start] & 0x80:
            return None
        extension = packet[start + 1]
        if not extension & 0xC0:
            return None
        position = start + 2
        picture_at = picture_id = mask = 0
        if extension & 0x80:  # I
            if position >= end:
                return None
            picture_at = position
            if packet[position] & 0x80:  # M: 15 bits
                if position + 1 >= end:
                    return None
                picture_id = (packet[position] & 0x7F) << 8 | packet[position + 1]
                mask = 0x7FFF
                position += 2
            else:
                picture_id = packet[position]
                mask = 0x7F
                position += 1
        if extension & 0x40:  # L
            if position >= end:
                return None
            return picture_at, picture_id, mask, position, packet[position]
    except (IndexError, TypeError, ValueError):
        return None
    return picture_at, picture_id, mask, 0, 0


def _vp8_keyframe_header(payload: Payload) -> int:
    """Offset of the VP8 payload header when this packet starts a keyframe, else 0.

    RFC 7741 §4.3: the payload header is present only in the first packet of partition 0
    (S = 1, PID = 0), and its P bit (inverse keyframe flag) is 0 for a keyframe."""
    first = payload[0] if payload else 0
    if not first & 0x10 or first & 0x07:  # S set, PID (3 bits) zero
        return 0
    offset = vp8_descriptor_size(payload)
    if not offset or offset >= len(payload) or payload[offset] & 0x01:
        return 0
    return offset


def _vp8(payload: Payload) -> bool:
    return _vp8_keyframe_header(payload) > 0


def vp8_picture_size(payload: Payload) -> tuple[int, int] | None:
    """(width, height) from a packet that starts a VP8 keyframe, else None.

    RFC 6386 §9.1: a keyframe's 3-byte frame tag is followed by the start code 9d 01 2a and
    two little-endian 16-bit fields whose low 14 bits are the width and height (the top two
    bits are a scaling hint, ignored)."""
    try:
        offset = _vp8_keyframe_header(payload)
        if not offset or len(payload) < offset + 10:
            return None
        start = offset + 3
        if bytes(payload[start : start + 3]) != _VP8_START_CODE:
            return None
        width = (payload[start + 3] | payload[start + 4] << 8) & 0x3FFF
        height = (payload[start + 5] | payload[start + 6] << 8) & 0x3FFF
    except (IndexError, TypeError, ValueError):
        return None
    return (width, height) if width and height else None


def _h264(payload: Payload) -> bool:
    """RFC 6184 §5.6-5.8: an IDR slice or an SPS, alone (single NAL unit packet), inside a
    STAP-A aggregate, or as the start fragment (S bit) of an FU-A; other packetizations
    (STAP-B, MTAP, FU-B: interleaved mode only) never start a keyframe for WebRTC."""
    size = len(payload)
    if size < 1:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        position = 1
        while position + 2 < size:
            unit = payload[position] << 8 | payload[position + 1]
            if unit == 0:
                return False
            if payload[position + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            position += 2 + unit
        return False
    if nal_type == _H264_FU_A:
        return (
            size >= 2
            and bool(payload[1] & 0x80)
            and payload[1] & 0x1F
            in (
                _H264_IDR,
                _H264_SPS,
            )
        )
    return False


def _vp9(payload: Payload) -> bool:
    """RFC 9628 §4.2: first byte I|P|L|F|B|E|V|Z. A keyframe starts where B (start of frame)
    is set and P (inter-picture predicted) is clear; with layer indices present (L), only
    in spatial layer 0, since upper layers of a keyframe still depend on layer 0 (RFC 9628
    §4.2 "D")."""
    size = len(payload)
    if size < 1:
        return False
    first = payload[0]
    if first & 0x40 or not first & 0x08:
        return False
    if not first & 0x20:  # no layer indices: a single layer
        return True
    position = 1
    if first & 0x80:  # I: 7- or 15-bit picture ID
        if size < 2:
            return False
        position += 2 if payload[1] & 0x80 else 1
    if position >= size:
        return False
    return (payload[position] >> 1) & 0x07 == 0  # SID


def _av1(payload: Payload) -> bool:
    """AV1 RTP payload (aomediacodec av1-rtp-spec §4.4): the aggregation header's N bit is
    set on the first packet of a coded video sequence, which begins with a keyframe; Z (a
    continued OBU) cannot be set on such a packet."""
    if len(payload) < 2:
        return False
    header = payload[0]
    return bool(header & 0x08) and not header & 0x80


_DETECTORS: dict[str, Callable[[Payload], bool]] = {
    "vp8": _vp8,
    "h264": _h264,
    "vp9": _vp9,
    "av1": _av1,
}


def is_keyframe(codec_name: str, payload: Payload) -> bool:
    """Whether this packet starts a keyframe of ``codec_name`` (the SDP encoding name, any
    case); False for an unknown codec or an unreadable payload. Never raises."""
    try:
        detector = _DETECTORS.get(codec_name) or _DETECTORS.get(codec_name.lower())
        return detector is not None and detector(payload)
    except (IndexError, TypeError, ValueError, AttributeError):
        return False
