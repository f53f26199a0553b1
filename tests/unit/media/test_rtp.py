"""RTP header reading and writing (RFC 3550, RFC 8285 extensions, RFC 4588 RTX)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.rtp import (
    ExtensionIds,
    MalformedPacket,
    build_rtp,
    build_rtx,
    build_template,
    extension_block,
    is_rtcp,
    parse_rtp,
    stamp,
    unwrap_rtx,
)

IDS = ExtensionIds(audio_level=1, abs_send_time=2, mid=3, rid=4, repaired_rid=5)


def test_fixed_header_fields_are_read() -> None:
    packet = build_rtp(
        payload_type=96, sequence_number=65535, timestamp=123, ssrc=0xDEADBEEF, payload=b"abc",
        marker=True,
    )  # fmt: skip
    header = parse_rtp(packet, IDS)
    assert (header.payload_type, header.marker, header.sequence_number) == (96, True, 65535)
    assert (header.timestamp, header.ssrc) == (123, 0xDEADBEEF)
    assert packet[header.payload_offset : header.payload_end] == b"abc"


def test_one_byte_extensions_give_audio_level_rid_and_mid() -> None:
    extensions = extension_block([(1, bytes([0x80 | 42])), (3, b"1"), (4, b"h")])
    packet = build_rtp(
        payload_type=111, sequence_number=1, timestamp=2, ssrc=3, payload=b"x",
        extensions=extensions,
    )  # fmt: skip
    header = parse_rtp(packet, IDS)
    assert header.audio_level == 42 and header.voice_activity
    assert header.mid == "1" and header.rid == "h"
    assert packet[header.payload_offset :] == b"x"


def test_two_byte_extensions_are_read_too() -> None:
    body = bytes([4, 1]) + b"f" + bytes([1, 1, 0x10]) + b"\x00\x00"
    extensions = (0x1000).to_bytes(2, "big") + (len(body) // 4).to_bytes(2, "big") + body
    packet = build_rtp(
        payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"p",
        extensions=extensions,
    )  # fmt: skip
    header = parse_rtp(packet, IDS)
    assert header.rid == "f" and header.audio_level == 0x10


def test_padding_is_excluded_from_the_payload() -> None:
    packet = build_rtp(payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"ab",
                       padding=4)  # fmt: skip
    header = parse_rtp(packet, IDS)
    assert header.payload_size == 2


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80" * 11,
        b"\x40" + b"\x00" * 11,  # version 1
        b"\x8f" + b"\x00" * 11,  # 15 CSRCs announced, none there
        b"\x90\x60" + b"\x00" * 10 + b"\xbe\xde\x00\x09",  # extension longer than the packet
        b"\xa0\x60" + b"\x00" * 10 + b"\x00",  # padding count zero
        b"\xa0\x60" + b"\x00" * 10 + b"\x20",  # padding longer than the packet
    ],
)
def test_broken_packets_raise_malformed_packet(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_rtp(data, IDS)


def test_template_replaces_extensions_and_stamp_writes_each_receivers_header() -> None:
    original = build_rtp(
        payload_type=120, sequence_number=10, timestamp=1000, ssrc=1, payload=b"payload",
        extensions=extension_block([(4, b"q"), (3, b"0")]), padding=3,
    )  # fmt: skip
    header = parse_rtp(original, IDS)
    template = build_template(original, header, extension_block([(2, b"\x01\x02\x03")]))
    stamp(template, 96, True, 500, 77, 0xCAFE)
    out = parse_rtp(bytes(template), IDS)
    assert (out.payload_type, out.marker, out.sequence_number, out.timestamp, out.ssrc) == (
        96, True, 500, 77, 0xCAFE,
    )  # fmt: skip
    assert out.rid is None and out.mid is None
    assert bytes(template)[out.payload_offset : out.payload_end] == b"payload"
    stamp(template, 96, False, 501, 78, 0xBEEF)
    assert parse_rtp(bytes(template), IDS).ssrc == 0xBEEF


def test_rtx_carries_the_original_sequence_number_then_the_payload() -> None:
    original = build_rtp(payload_type=96, sequence_number=7, timestamp=9, ssrc=1, payload=b"abc")
    template = build_template(original, parse_rtp(original, IDS), b"")
    rtx = build_rtx(
        template, original_sequence_number=4242, payload_type=97, sequence_number=1,
        timestamp=9, ssrc=2,
    )  # fmt: skip
    header = parse_rtp(rtx, IDS)
    assert header.payload_type == 97 and header.ssrc == 2
    original_seq, offset = unwrap_rtx(rtx, header)
    assert original_seq == 4242
    assert rtx[offset:] == b"abc"


def test_rtcp_is_told_apart_from_rtp() -> None:
    assert is_rtcp(b"\x80\xc8\x00\x06")
    assert not is_rtcp(build_rtp(payload_type=96, sequence_number=1, timestamp=1, ssrc=1,
                                 payload=b""))  # fmt: skip


@settings(max_examples=1000)
@given(st.binary(max_size=120))
def test_any_bytes_parse_or_raise_malformed_packet(data: bytes) -> None:
    try:
        header = parse_rtp(data, IDS)
    except MalformedPacket:
        return
    assert 12 <= header.payload_offset <= header.payload_end <= len(data)


@given(
    st.integers(0, 127), st.booleans(), st.integers(0, 65535), st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1), st.binary(max_size=50), st.integers(0, 20),
)  # fmt: skip
def test_built_packets_read_back(pt, marker, seq, ts, ssrc, payload, padding) -> None:  # type: ignore[no-untyped-def]
    packet = build_rtp(payload_type=pt, sequence_number=seq, timestamp=ts, ssrc=ssrc,
                       payload=payload, marker=marker, padding=padding)  # fmt: skip
    header = parse_rtp(packet, IDS)
    assert (header.payload_type, header.marker, header.sequence_number) == (pt, marker, seq)
    assert packet[header.payload_offset : header.payload_end] == payload
