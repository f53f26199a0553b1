"""Payloads built by hand for the packet-mechanics tests: the few bytes a parser looks at."""

from __future__ import annotations


def vp8_keyframe_header(width: int, height: int) -> bytes:
    """RFC 6386 §9.1: frame tag (P = 0, show_frame), start code, sizes (little-endian)."""
    return (
        bytes([0x10, 0x02, 0x00])
        + b"\x9d\x01\x2a"
        + width.to_bytes(2, "little")
        + (height.to_bytes(2, "little"))
        + b"\x00" * 8
    )
