"""Just enough of each video codec's RTP payload format to see keyframes and picture sizes.

A subscriber can only start decoding at a keyframe, and a simulcast switch must wait for one;
everything else about the payload is opaque to the SFU (and may be end-to-end encrypted, in
which case only the unencrypted payload descriptor is read).
"""

from __future__ import annotations


def is_keyframe(codec: str, payload: bytes | memoryview) -> bool:
    """Whether this packet starts a keyframe; False for anything unreadable."""
    try:
        name = codec.lower()
        if name == "vp8":
            return _vp8_keyframe(payload)
        if name == "h264":
            return _h264_keyframe(payload)
        if name == "vp9":
            return _vp9_keyframe(payload)
        if name == "av1":
            return _av1_keyframe(payload)
    except IndexError:
        return False
    return False


def _vp8_descriptor_length(payload: bytes | memoryview) -> int:
    """Length of the VP8 payload descriptor (RFC 7741 §4.2)."""
    first = payload[0]
    length = 1
    if first & 0x80:  # X: extension byte follows
        extension = payload[1]
        length = 2
        if extension & 0x80:  # I: picture id, 7 or 15 bits
            length += 2 if payload[length] & 0x80 else 1
        if extension & 0x40:  # L: TL0PICIDX
            length += 1
        if extension & 0x30:  # T or K: TID/KEYIDX byte
            length += 1
    return length


def _vp8_keyframe(payload: bytes | memoryview) -> bool:
    first = payload[0]
    start_of_partition = bool(first & 0x10)
    partition_id = first & 0x0F
    if not start_of_partition or partition_id != 0:
        return False
    header = _vp8_descriptor_length(payload)
    # RFC 7741 §4.3: the P bit of the VP8 frame header's first byte is 0 for a keyframe.
    return len(payload) > header and payload[header] & 0x01 == 0


def vp8_picture_size(payload: bytes | memoryview) -> tuple[int, int] | None:
    """(width, height) from the start of a VP8 keyframe (RFC 6386 §9.1), else None."""
    try:
        if not _vp8_keyframe(payload):
            return None
        start = _vp8_descriptor_length(payload) + 3
        if bytes(payload[start : start + 3]) != b"\x9d\x01\x2a":
            return None
        width = (payload[start + 3] | payload[start + 4] << 8) & 0x3FFF
        height = (payload[start + 5] | payload[start + 6] << 8) & 0x3FFF
    except IndexError:
        return None
    return (width, height) if width and height else None


def _h264_keyframe(payload: bytes | memoryview) -> bool:
    # RFC 6184 §5.3: the NAL unit type; IDR slices (5) or SPS (7) begin a decodable picture.
    nal_type = payload[0] & 0x1F
    if nal_type in (5, 7):
        return True
    if nal_type == 24:  # STAP-A: a series of (16-bit size, NAL unit)
        position = 1
        while position + 2 < len(payload):
            size = payload[position] << 8 | payload[position + 1]
            if payload[position + 2] & 0x1F in (5, 7):
                return True
            position += 2 + size
        return False
    if nal_type == 28:  # FU-A: the start fragment names the fragmented unit's type
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in (5, 7)
    return False


def _vp9_keyframe(payload: bytes | memoryview) -> bool:
    # VP9 payload descriptor (RFC 9628 §4.2): P (inter-picture predicted) clear and B (start
    # of frame) set mark the first packet of a keyframe.
    first = payload[0]
    return not first & 0x40 and bool(first & 0x08)


def _av1_keyframe(payload: bytes | memoryview) -> bool:
    # AV1 RTP aggregation header: N is set on the first packet of a coded video sequence.
    return bool(payload[0] & 0x08)
