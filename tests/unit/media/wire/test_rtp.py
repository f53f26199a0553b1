"""RTP header reading (RFC 3550 §5.1, RFC 8285 extensions), outgoing templates, RTX (RFC 4588)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.wire.rtp import (
    ExtensionIds,
    MalformedPacket,
    RtpWriter,
    abs_send_time,
    abs_send_time_from_ntp,
    build_rtp,
    build_rtx,
    extension_block,
    is_rtcp,
    parse_rtp,
    rtx_original,
    set_abs_send_time,
    stamp,
    unwrap_rtx,
)

# A publisher's numbering (Chromium's) and a subscriber's (ours): they differ on purpose.
UP = ExtensionIds(audio_level=1, abs_send_time=2, mid=4, rid=10, repaired_rid=11)
DOWN = ExtensionIds(audio_level=5, abs_send_time=3)


def packet(**fields: object) -> bytes:
    defaults: dict[str, object] = {
        "payload_type": 96, "sequence_number": 1, "timestamp": 2, "ssrc": 3, "payload": b"p",
    }  # fmt: skip
    defaults.update(fields)
    return build_rtp(**defaults)  # type: ignore[arg-type]


# -- reading -----------------------------------------------------------------------------------


def test_fixed_header_fields_are_read() -> None:
    data = packet(sequence_number=65535, timestamp=0xFFFFFFFF, ssrc=0xDEADBEEF, marker=True)
    header = parse_rtp(data, UP)
    assert (header.payload_type, header.marker, header.sequence_number) == (96, True, 65535)
    assert (header.timestamp, header.ssrc) == (0xFFFFFFFF, 0xDEADBEEF)
    assert data[header.payload_offset : header.payload_end] == b"p"
    assert header.payload_size == 1
    assert (header.audio_level, header.mid, header.rid, header.repaired_rid) == (None,) * 4


def test_the_csrc_list_comes_before_the_payload() -> None:
    header = parse_rtp(packet(csrcs=[7, 8, 9], payload=b"xyz"), UP)
    assert header.payload_offset == 12 + 3 * 4 and header.payload_size == 3


def test_one_byte_extensions_give_audio_level_mid_and_rids() -> None:
    elements = [(1, bytes([0x80 | 42])), (4, b"0"), (10, b"hi"), (11, b"lo")]
    data = packet(extensions=elements, payload=b"x")
    header = parse_rtp(data, UP)
    assert header.audio_level == 42 and header.voice_activity
    assert (header.mid, header.rid, header.repaired_rid) == ("0", "hi", "lo")
    assert data[header.payload_offset :] == b"x"


def test_two_byte_extensions_allow_empty_elements_and_padding_bytes() -> None:
    body = bytes([7, 0]) + bytes([0]) + bytes([10, 1]) + b"f" + bytes([1, 1, 0x10]) + bytes(3)
    block = struct.pack("!HH", 0x1000, len(body) // 4) + body
    header = parse_rtp(packet(extensions=block), UP)
    assert header.rid == "f" and header.audio_level == 0x10 and not header.voice_activity


def test_abs_send_time_is_read_when_negotiated() -> None:
    header = parse_rtp(packet(extensions=[(2, b"\x12\x34\x56")]), UP)
    assert header.abs_send_time == 0x123456


def test_extensions_not_negotiated_are_not_read() -> None:
    header = parse_rtp(packet(extensions=[(1, b"\x05"), (10, b"h")]), ExtensionIds())
    assert header.audio_level is None and header.rid is None


def test_a_one_byte_element_with_id_0_is_no_extensions() -> None:
    """ID 0 is reserved (RFC 8285): an element that carries it with a length is skipped,
    never taken for an extension whose ID is 0 because it was not negotiated (here the
    transport-wide number and the RID)."""
    block = struct.pack("!HH", 0xBEDE, 2) + bytes([0x10, 0x05, 0x01, 0x00, 0x00, 0, 0, 0])
    ids = ExtensionIds(audio_level=1)
    header = parse_rtp(packet(extensions=block), ids)
    assert header.audio_level == 5
    assert header.transport_sequence is None and header.rid is None


def test_one_byte_id_15_ends_the_block() -> None:
    block = struct.pack("!HH", 0xBEDE, 2) + bytes([0xF0, 0x1F, 0xA0, 0xFF]) + bytes(4)
    header = parse_rtp(packet(extensions=block), UP)
    assert header.audio_level is None


def test_an_extension_profile_other_than_rfc_8285_is_skipped_whole() -> None:
    block = struct.pack("!HH", 0xABCD, 1) + b"\x10\xff\xff\xff"
    header = parse_rtp(packet(extensions=block, payload=b"q"), UP)
    assert header.payload_offset == 12 + 8 and header.audio_level is None


def test_sdes_values_may_be_nul_padded() -> None:
    assert parse_rtp(packet(extensions=[(10, b"f\x00\x00")]), UP).rid == "f"


@pytest.mark.parametrize("value", [b"a b", b"\xff", b"\x00", b"h:1"])
def test_a_rid_that_is_not_an_ascii_token_is_malformed(value: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_rtp(packet(extensions=[(10, value)]), UP)


def test_padding_is_excluded_from_the_payload() -> None:
    data = packet(payload=b"ab", padding=4)
    header = parse_rtp(data, UP)
    assert data[header.payload_offset : header.payload_end] == b"ab"


def test_a_padding_only_packet_has_an_empty_payload() -> None:
    header = parse_rtp(packet(payload=b"", padding=200), UP)
    assert header.payload_size == 0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(11),
        bytes([0x40]) + bytes(11),  # version 1
        bytes([0x83]) + bytes(11 + 8),  # three CSRCs, room for two
        bytes([0x90]) + bytes(11) + b"\xbe\xde",  # extension header cut short
        bytes([0x90]) + bytes(11) + b"\xbe\xde\x00\x02" + bytes(4),  # block overruns
        bytes([0x90]) + bytes(11) + b"\xbe\xde\x00\x01\x13\x00\x00\x00",  # element overruns
        bytes([0xA0]) + bytes(11) + b"ab\x00",  # padding count 0
        bytes([0xA0]) + bytes(11) + b"ab\x04",  # padding longer than the payload
        bytes([0xB0]) + bytes(11) + b"\xbe\xde\x00\x01\x10\x00\x00\x02",  # padding in the block
        build_rtp(
            payload_type=96, sequence_number=1, timestamp=2, ssrc=3, extensions=[(2, b"\x01\x02")]
        ),  # abs-send-time not 3 bytes
    ],
)
def test_broken_packets_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_rtp(data, UP)


def test_rtcp_is_told_apart_from_rtp_on_a_muxed_port() -> None:
    assert is_rtcp(bytes([0x80, 200]) + bytes(6))  # SR
    assert is_rtcp(bytes([0x81, 206, 0, 2]))  # PLI
    assert not is_rtcp(packet(payload_type=96, marker=True))  # 0x80 | 96 = 224
    assert not is_rtcp(packet(payload_type=111))
    assert not is_rtcp(bytes([0x00, 200]))  # not version 2
    assert not is_rtcp(b"\x80")


# -- writing -----------------------------------------------------------------------------------


def test_a_video_template_is_fixed_header_abs_send_time_and_payload_without_padding() -> None:
    data = packet(csrcs=[1], extensions=[(4, b"1"), (10, b"f")], payload=b"frame", padding=3)
    writer = RtpWriter("video", DOWN)
    template = writer.template(data, parse_rtp(data, UP))
    assert writer.abs_send_time_offset == 17  # the first element: DOWN has no transport-cc
    assert template[0] == 0x90  # version 2, X, no padding, no CSRC
    assert template[12:17] == b"\xbe\xde\x00\x01\x32"  # one element: id 3, 3 bytes
    assert template[20:] == b"frame"


def test_stamp_writes_one_subscribers_header_into_a_reusable_template() -> None:
    data = packet(payload=b"frame")
    writer = RtpWriter("video", DOWN)
    template = writer.template(data, parse_rtp(data, UP))
    set_abs_send_time(template, 17, 1.5)
    sent = []
    for ssrc, seq in ((111, 7), (222, 65535)):
        stamp(template, 97, True, seq, 0xABCDEF01, ssrc)
        sent.append(bytes(template))
    first, second = (parse_rtp(p, DOWN) for p in sent)
    assert (first.ssrc, first.sequence_number, first.payload_type) == (111, 7, 97)
    assert (second.ssrc, second.sequence_number, second.marker) == (222, 65535, True)
    assert second.timestamp == 0xABCDEF01 and second.abs_send_time == int(1.5 * 2**18)
    assert sent[1][second.payload_offset :] == b"frame"
    stamp(template, 97, False, 8, 0, 111)
    assert not parse_rtp(bytes(template), DOWN).marker


def test_an_audio_template_carries_the_level_and_v_bit_in_the_subscriber_numbering() -> None:
    data = packet(payload_type=111, extensions=[(1, bytes([0x80 | 30])), (4, b"0")])
    template = RtpWriter("audio", DOWN).template(data, parse_rtp(data, UP))
    stamp(template, 111, False, 1, 960, 5)
    header = parse_rtp(bytes(template), DOWN)
    assert (header.audio_level, header.voice_activity, header.mid) == (30, True, None)
    assert template[16] == 5 << 4  # id 5, one byte


def test_audio_without_a_level_gets_no_extension() -> None:
    data = packet(payload_type=111, payload=b"opus")
    template = RtpWriter("audio", DOWN).template(data, parse_rtp(data, UP))
    assert template[0] == 0x80 and template[12:] == b"opus"


def test_without_negotiated_extensions_the_payload_follows_the_fixed_header() -> None:
    data = packet(extensions=[(2, b"\x00\x00\x01")], payload=b"vp8")
    writer = RtpWriter("video", ExtensionIds())
    assert writer.abs_send_time_offset is None
    assert writer.template(data, parse_rtp(data, UP))[12:] == b"vp8"


def test_the_writer_only_takes_one_byte_extension_ids() -> None:
    with pytest.raises(ValueError, match=r"1\.\.14"):
        RtpWriter("video", ExtensionIds(abs_send_time=15))


def test_abs_send_time_is_6_18_fixed_point_seconds_wrapping_every_64_seconds() -> None:
    assert abs_send_time(1.0) == (1 << 18).to_bytes(3, "big")
    assert abs_send_time(64.25) == abs_send_time(0.25)
    assert abs_send_time_from_ntp(3 << 32) == 3 << 18
    template = bytearray(24)
    set_abs_send_time(template, 17, 64.5)
    assert template[17:20] == abs_send_time(0.5) and template[16] == 0 and template[20] == 0


def test_extension_blocks_check_their_form() -> None:
    assert extension_block([]) == b""
    assert len(extension_block([(1, b"x" * 16)])) == 4 + 20
    assert extension_block([(200, b"")], two_byte=True)[:2] == b"\x10\x00"
    for bad in ([(15, b"x")], [(1, b"")], [(1, b"x" * 17)]):
        with pytest.raises(ValueError):
            extension_block(bad)


# -- retransmission (RFC 4588) -----------------------------------------------------------------


def stamped(payload: bytes = b"frame", seq: int = 4242, padding: int = 0) -> bytearray:
    data = packet(extensions=[(2, b"\x00\x00\x01")], payload=payload, padding=padding)
    template = RtpWriter("video", DOWN).template(data, parse_rtp(data, UP))
    stamp(template, 96, True, seq, 90000, 0x1111)
    return template


def test_rtx_puts_the_original_sequence_number_before_the_original_payload() -> None:
    rtx = build_rtx(stamped(), rtx_payload_type=97, rtx_sequence_number=9, rtx_ssrc=0x2222)
    header = parse_rtp(rtx, DOWN)
    assert (header.payload_type, header.sequence_number, header.ssrc) == (97, 9, 0x2222)
    assert header.timestamp == 90000 and header.marker  # RFC 4588 §4: as the original
    assert header.abs_send_time is not None  # extensions kept
    original, offset = unwrap_rtx(rtx, header)
    assert original == 4242 and rtx[offset : header.payload_end] == b"frame"


def test_rtx_can_name_the_original_number_explicitly_and_drops_padding() -> None:
    data = packet(payload=b"ab", padding=5, sequence_number=10)
    rtx = build_rtx(
        data, rtx_payload_type=97, rtx_sequence_number=1, rtx_ssrc=2, original_sequence_number=77
    )
    header = parse_rtp(rtx, UP)
    assert rtx[0] & 0x20 == 0 and unwrap_rtx(rtx, header) == (77, header.payload_offset + 2)
    assert rtx[header.payload_offset + 2 :] == b"ab"


def test_an_rtx_packet_restores_its_original() -> None:
    media = packet(extensions=[(10, b"h")], payload=b"keyframe", sequence_number=500, marker=True)
    rtx = build_rtx(media, rtx_payload_type=97, rtx_sequence_number=3, rtx_ssrc=99)
    restored = rtx_original(rtx, parse_rtp(rtx, UP), payload_type=96, ssrc=3)
    assert restored == media


def test_a_padding_only_rtx_probe_has_no_original() -> None:
    probe = packet(payload_type=97, payload=b"", padding=255)
    with pytest.raises(MalformedPacket):
        unwrap_rtx(probe, parse_rtp(probe, UP))


def test_build_rtx_refuses_what_is_not_rtp() -> None:
    with pytest.raises(MalformedPacket):
        build_rtx(b"\x00" * 12, rtx_payload_type=97, rtx_sequence_number=1, rtx_ssrc=1)


# -- properties --------------------------------------------------------------------------------

ELEMENT_VALUE = st.binary(min_size=1, max_size=16)


@st.composite
def rtp_fields(draw: st.DrawFn) -> dict[str, object]:
    two_byte = draw(st.booleans())
    ids = st.sampled_from([1, 2, 3, 6, 12, 14])
    elements = draw(st.lists(st.tuples(ids, ELEMENT_VALUE), max_size=4, unique_by=lambda e: e[0]))
    return {
        "payload_type": draw(st.integers(0, 127)),
        "sequence_number": draw(st.integers(0, 0xFFFF)),
        "timestamp": draw(st.integers(0, 0xFFFFFFFF)),
        "ssrc": draw(st.integers(0, 0xFFFFFFFF)),
        "marker": draw(st.booleans()),
        "csrcs": draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15)),
        "payload": draw(st.binary(max_size=64)),
        "padding": draw(st.integers(0, 255)),
        "extensions": elements,
        "two_byte": two_byte,
    }


@settings(max_examples=300)
@given(rtp_fields())
def test_what_build_rtp_writes_parse_rtp_reads_back(fields: dict[str, object]) -> None:
    data = build_rtp(**fields)  # type: ignore[arg-type]
    header = parse_rtp(data, ExtensionIds(audio_level=3))
    assert header.payload_type == fields["payload_type"]
    assert header.sequence_number == fields["sequence_number"]
    assert (header.timestamp, header.ssrc, header.marker) == (
        fields["timestamp"], fields["ssrc"], fields["marker"],
    )  # fmt: skip
    assert data[header.payload_offset : header.payload_end] == fields["payload"]
    levels = [value[0] & 0x7F for ext_id, value in fields["extensions"] if ext_id == 3]  # type: ignore[attr-defined]
    assert header.audio_level == (levels[0] if levels else None)


@settings(max_examples=100)
@given(
    st.text("abcXYZ019-_", min_size=1, max_size=16),
    st.text("abcXYZ019-_", min_size=1, max_size=16),
    st.booleans(),
)
def test_mid_and_rid_tokens_round_trip_in_both_extension_forms(
    mid: str, rid: str, two_byte: bool
) -> None:
    data = packet(extensions=[(4, mid.encode()), (10, rid.encode())], two_byte=two_byte)
    header = parse_rtp(data, UP)
    assert (header.mid, header.rid) == (mid, rid)


@st.composite
def rtp_like(draw: st.DrawFn) -> bytes:
    """Bytes that get past the first checks often, to reach the extension walkers."""
    first = 0x80 | draw(st.integers(0, 0x3F))
    head = bytes([first, draw(st.integers(0, 255))]) + draw(st.binary(min_size=10, max_size=10))
    profile = draw(st.sampled_from([b"\xbe\xde", b"\x10\x00", b"\x10\x0f", b"\x12\x34"]))
    words = draw(st.integers(0, 4)).to_bytes(2, "big")
    return head + profile + words + draw(st.binary(max_size=40))


@settings(max_examples=500)
@given(st.one_of(st.binary(max_size=80), rtp_like()))
def test_parse_rtp_raises_only_malformed_packet(data: bytes) -> None:
    try:
        header = parse_rtp(data, UP)
    except MalformedPacket:
        return
    assert 12 <= header.payload_offset <= header.payload_end <= len(data)
    try:
        original, offset = unwrap_rtx(data, header)
    except MalformedPacket:
        assert header.payload_size < 2
    else:
        assert 0 <= original <= 0xFFFF and offset <= header.payload_end


@settings(max_examples=200)
@given(rtp_fields(), st.integers(0, 127), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF))
def test_rtx_round_trips_any_packet(
    fields: dict[str, object], rtx_pt: int, rtx_seq: int, rtx_ssrc: int
) -> None:
    data = build_rtp(**fields)  # type: ignore[arg-type]
    rtx = build_rtx(data, rtx_payload_type=rtx_pt, rtx_sequence_number=rtx_seq, rtx_ssrc=rtx_ssrc)
    header = parse_rtp(rtx, ExtensionIds())
    original, offset = unwrap_rtx(rtx, header)
    assert original == fields["sequence_number"] and header.timestamp == fields["timestamp"]
    assert rtx[offset : header.payload_end] == fields["payload"]
