"""Transport-wide congestion control on the wire: the feedback packet
(draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1) and the sequence number written
into every outgoing template (§2)."""

from __future__ import annotations

import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.wire.rtcp import MalformedPacket, Pli, compound, parse_rtcp
from mosaic.media.wire.rtp import (
    TRANSPORT_SEQUENCE_OFFSET,
    ExtensionIds,
    RtpWriter,
    build_rtp,
    parse_rtp,
    set_abs_send_time,
    set_transport_sequence,
    stamp,
)
from mosaic.media.wire.twcc import (
    LARGE_DELTA,
    NOT_RECEIVED,
    SMALL_DELTA,
    TransportFeedback,
    parse_transport_feedback,
)

UP = ExtensionIds(audio_level=1, abs_send_time=2, mid=4)
DOWN = ExtensionIds(audio_level=1, abs_send_time=2, transport_cc=3)


def feedback_bytes(chunks: list[int], deltas: bytes, count: int, base: int = 10) -> bytes:
    """A hand-made feedback packet: base ``base``, reference time 0x000102, fb count 7."""
    body = struct.pack("!IIHHI", 0xAAAA, 0xBBBB, base, count, 0x000102 << 8 | 7)
    body += b"".join(struct.pack("!H", c) for c in chunks) + deltas
    body += bytes(-len(body) % 4)
    return struct.pack("!BBH", 0x8F, 205, len(body) // 4) + body


# -- reading -----------------------------------------------------------------------------------


def test_a_run_length_chunk_reports_received_packets_with_small_deltas() -> None:
    data = feedback_bytes([0x2003], bytes([4, 8, 12]), count=3)  # run of 3 x "small delta"
    (feedback,) = parse_rtcp(data)
    assert feedback == TransportFeedback(
        0xAAAA, 0xBBBB, 10, 0x000102, 7, bytes([SMALL_DELTA] * 3), [4, 8, 12]
    )


def test_status_vectors_mix_lost_small_and_large_deltas() -> None:
    # 1-bit vector: received, lost, received, then 11 more lost; 2-bit vector: large, small.
    one_bit = 0x8000 | 0b1010_0000_0000_00
    two_bit = 0xC000 | LARGE_DELTA << 12 | SMALL_DELTA << 10
    deltas = bytes([1, 2]) + struct.pack("!h", -40) + bytes([3])
    (feedback,) = parse_rtcp(feedback_bytes([one_bit, two_bit], deltas, count=16))
    assert feedback.statuses == bytes([1, 0, 1] + [0] * 11 + [LARGE_DELTA, SMALL_DELTA])
    assert feedback.deltas == [1, 2, -40, 3]


def test_symbols_past_the_status_count_are_padding() -> None:
    (feedback,) = parse_rtcp(feedback_bytes([0x8000 | 0x3FFF], bytes([9, 9]), count=2))
    assert feedback.statuses == bytes([1, 1]) and feedback.deltas == [9, 9]


def test_a_claim_of_65535_lost_packets_is_bytes_not_objects() -> None:
    data = feedback_bytes([0x1FFF] * 8 + [0x1FFF], b"", count=0xFFFF)
    start = time.perf_counter()
    (feedback,) = parse_rtcp(data)
    assert time.perf_counter() - start < 0.01
    assert len(feedback.statuses) == 0xFFFF and feedback.deltas == []


@pytest.mark.parametrize(
    ("why", "data"),
    [
        ("no packet", feedback_bytes([], b"", count=0)),
        ("chunks missing", feedback_bytes([0x2001], b"\x01", count=5)),
        ("deltas missing", feedback_bytes([0x2005], b"\x01\x02", count=5)),
        ("reserved run", feedback_bytes([0x6001], b"", count=1)),
        ("reserved in a vector", feedback_bytes([0xC000 | 3 << 12], b"", count=1)),
        ("shorter than its fixed part", struct.pack("!BBH", 0x8F, 205, 2) + bytes(8)),
    ],
)
def test_malformed_feedback_is_a_malformed_packet(why: str, data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_rtcp(data)


def test_feedback_sits_in_a_compound_packet_with_others() -> None:
    feedback = TransportFeedback.from_deltas(1, 2, 65530, 5, 0, [1, None, 300, -2])
    (pli, parsed) = parse_rtcp(compound(Pli(1, 2), feedback))
    assert pli == Pli(1, 2) and parsed == feedback
    assert parsed.statuses == bytes([SMALL_DELTA, NOT_RECEIVED, LARGE_DELTA, LARGE_DELTA])


def test_the_body_bounds_are_checked_even_when_called_directly() -> None:
    with pytest.raises(MalformedPacket):
        parse_transport_feedback(bytes(30), 4, 40)


# -- round trips and fuzzing -------------------------------------------------------------------

deltas = st.one_of(st.none(), st.integers(0, 255), st.integers(-0x8000, 0x7FFF))


@settings(max_examples=300)
@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFF),
    st.integers(0, 255),
    st.lists(deltas, min_size=1, max_size=400),
)
def test_feedback_survives_a_round_trip(
    base: int, reference: int, count: int, packets: list[int | None]
) -> None:
    feedback = TransportFeedback.from_deltas(7, 8, base, reference, count, packets)
    data = feedback.serialize()
    assert len(data) % 4 == 0
    (parsed,) = parse_rtcp(data)
    assert parsed == feedback


@settings(max_examples=200)
@given(st.lists(st.sampled_from([None, 0, 1]), min_size=1, max_size=3000))
def test_long_runs_round_trip_as_run_length_chunks(packets: list[int | None]) -> None:
    packets = [p for p in packets for _ in range(20)][:0xFFFF]
    feedback = TransportFeedback.from_deltas(1, 2, 3, 4, 5, packets)
    assert parse_rtcp(feedback.serialize()) == [feedback]


@st.composite
def damaged_feedback(draw: st.DrawFn) -> bytes:
    packets = draw(st.lists(deltas, min_size=1, max_size=60))
    data = bytearray(TransportFeedback.from_deltas(1, 2, 3, 4, 5, packets).serialize())
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) if draw(st.booleans()) else bytes(data)


def body_of(draw_bytes: bytes) -> bytes:
    """Arbitrary bytes framed as one RTPFB FMT 15 packet (so the parser reaches the body)."""
    body = draw_bytes + bytes(-len(draw_bytes) % 4)
    return struct.pack("!BBH", 0x8F, 205, len(body) // 4) + body


@settings(max_examples=400)
@given(st.one_of(damaged_feedback(), st.binary(max_size=120).map(body_of), st.binary()))
def test_garbage_is_a_malformed_packet_or_feedback_never_another_exception(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except MalformedPacket:
        return
    for packet in packets:
        if isinstance(packet, TransportFeedback):
            received = len(packet.statuses) - packet.statuses.count(NOT_RECEIVED)
            assert len(packet.deltas) == received and set(packet.statuses) <= {0, 1, 2}


def test_building_refuses_what_the_format_cannot_say() -> None:
    with pytest.raises(ValueError):
        TransportFeedback(1, 2, 3, 4, 5, b"", []).serialize()
    with pytest.raises(ValueError):
        TransportFeedback(1, 2, 3, 4, 5, bytes([SMALL_DELTA]), [300]).serialize()
    with pytest.raises(ValueError):
        TransportFeedback(1, 2, 3, 4, 5, bytes([SMALL_DELTA]), []).serialize()


# -- the header extension ----------------------------------------------------------------------


def test_video_templates_carry_the_transport_number_first_then_abs_send_time() -> None:
    data = build_rtp(
        payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"vp8",
        extensions=[(4, b"0"), (2, b"\x00\x00\x01")],
    )  # fmt: skip
    writer = RtpWriter("video", DOWN)
    template = writer.template(data, parse_rtp(data, UP))
    assert writer.transport_sequence_offset == TRANSPORT_SEQUENCE_OFFSET == 17
    assert writer.abs_send_time_offset == 20
    assert template[12:17] == b"\xbe\xde\x00\x02\x31"  # two words; id 3, two bytes
    assert template[19] == 2 << 4 | 2 and template[24:] == b"vp8"
    set_abs_send_time(template, 20, 1.0)
    received = []
    for number in (65535, 0):
        stamp(template, 96, False, 9, 9, 9)
        set_transport_sequence(template, number)
        header = parse_rtp(bytes(template), DOWN)
        received.append((header.transport_sequence, header.abs_send_time))
        assert bytes(template)[header.payload_offset :] == b"vp8"
    assert received == [(65535, 1 << 18), (0, 1 << 18)]


def test_audio_templates_keep_the_number_where_video_has_it_with_or_without_a_level() -> None:
    writer = RtpWriter("audio", DOWN)
    assert writer.transport_sequence_offset == TRANSPORT_SEQUENCE_OFFSET
    with_level = build_rtp(
        payload_type=111, sequence_number=1, timestamp=2, ssrc=3, payload=b"opus",
        extensions=[(1, bytes([0x80 | 40]))],
    )  # fmt: skip
    without = build_rtp(payload_type=111, sequence_number=1, timestamp=2, ssrc=3, payload=b"opus")
    for data, level in ((with_level, 40), (without, None)):
        template = writer.template(data, parse_rtp(data, UP))
        set_transport_sequence(template, 1234)
        header = parse_rtp(bytes(template), DOWN)
        assert (header.transport_sequence, header.audio_level) == (1234, level)
        assert bytes(template)[header.payload_offset :] == b"opus"


def test_a_transport_number_of_the_wrong_size_is_malformed() -> None:
    data = build_rtp(
        payload_type=96, sequence_number=1, timestamp=2, ssrc=3, extensions=[(3, b"\x01")]
    )
    with pytest.raises(MalformedPacket):
        parse_rtp(data, DOWN)
