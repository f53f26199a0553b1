"""RTCP reports and feedback (RFC 3550, RFC 4585, RFC 5104, REMB)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.rtcp import (
    Bye,
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SenderReport,
    compound,
    ntp_from_unix,
    ntp_middle,
    parse_rtcp,
)
from mosaic.media.rtp import MalformedPacket


def test_a_compound_packet_reads_back_whole() -> None:
    block = ReportBlock(1, 25, 3, 70000, 12, 0xABCD, 65536)
    packets = [
        SenderReport(5, ntp_from_unix(1_700_000_000.5), 9000, 10, 1000, [block]),
        ReceiverReport(6, [block, block]),
        Pli(7, 8),
        Fir(7, [(8, 3), (9, 4)]),
        Remb(7, 1_234_567, [8, 9]),
        Bye([5]),
    ]
    parsed = parse_rtcp(compound(*packets))  # type: ignore[arg-type]
    assert parsed[:4] == packets[:4]
    remb = parsed[4]
    assert isinstance(remb, Remb) and remb.ssrcs == [8, 9]
    assert abs(remb.bitrate - 1_234_567) / 1_234_567 < 0.0001  # mantissa precision
    assert parsed[5] == Bye([5])


def test_nack_bitmask_covers_the_following_sixteen_numbers() -> None:
    lost = [100, 101, 105, 116, 117, 200]
    encoded = Nack(1, 2, lost).serialize()
    assert len(encoded) == 12 + 4 * 3  # three FCI items: 100 (+101,105,116), 117, 200
    (parsed,) = parse_rtcp(encoded)
    assert isinstance(parsed, Nack) and sorted(parsed.lost) == lost


def test_nack_wraps_around_the_sequence_space() -> None:
    (parsed,) = parse_rtcp(Nack(1, 2, [65534, 65535, 0, 3]).serialize())
    assert set(parsed.lost) == {65534, 65535, 0, 3}  # type: ignore[union-attr]


def test_unknown_packet_types_are_skipped() -> None:
    sdes = bytes([0x81, 202, 0, 2]) + b"\x00\x00\x00\x05" + b"\x00\x00\x00\x00"
    transport_cc = bytes([0x8F, 205, 0, 2]) + b"\x00" * 8
    packets = parse_rtcp(sdes + transport_cc + Pli(1, 2).serialize())
    assert packets == [Pli(1, 2)]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x80\xc8", b"\x40\xc8\x00\x00", b"\x80\xc8\x00\x10" + b"\x00" * 8,
     b"\x81\xc9\x00\x01\x00\x00\x00\x01"],
)  # fmt: skip
def test_broken_rtcp_raises_malformed_packet(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_rtcp(data)


def test_lsr_is_the_middle_of_the_ntp_timestamp() -> None:
    assert ntp_middle(0x0123456789ABCDEF) == 0x456789AB


@settings(max_examples=1000)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_malformed_packet(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        parse_rtcp(data)


@given(st.lists(st.integers(0, 65535), min_size=1, max_size=40, unique=True))
def test_any_nack_list_round_trips(lost: list[int]) -> None:
    lost.sort()
    (parsed,) = parse_rtcp(Nack(1, 2, lost).serialize())
    assert sorted(parsed.lost) == lost  # type: ignore[union-attr]
