"""RTCP compound packets (RFC 3550 §6), NACK/PLI (RFC 4585), FIR (RFC 5104), REMB."""

from __future__ import annotations

import itertools
import struct

import pytest
from aiortc import rtp as aiortc_rtp
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.wire.rtcp import (
    Bye,
    Fir,
    MalformedPacket,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    ReportBlock,
    SenderReport,
    SourceDescription,
    compound,
    dlsr_from_seconds,
    ntp_from_unix,
    ntp_middle,
    parse_rtcp,
    round_trip_time,
    unix_from_ntp,
)

BLOCK = ReportBlock(
    ssrc=0x11, fraction_lost=64, packets_lost=-3, highest_sequence=0x1_FFFF, jitter=120,
    lsr=0xB7052000, dlsr=0x00054000,
)  # fmt: skip


def raw(packet_type: int, count: int, body: bytes, padding: int = 0) -> bytes:
    """A hand-made RTCP packet, for types we do not write."""
    body += bytes(-len(body) % 4)
    if padding:
        body += bytes(padding - 1) + bytes([padding])
    first = 0x80 | (0x20 if padding else 0) | count
    return struct.pack("!BBH", first, packet_type, len(body) // 4) + body


# -- reports -----------------------------------------------------------------------------------


def test_a_sender_report_with_blocks_round_trips() -> None:
    report = SenderReport(7, ntp_from_unix(1_700_000_000.25), 90000, 10, 12000, [BLOCK, BLOCK])
    assert parse_rtcp(report.serialize()) == [report]
    assert bytes(report) == report.serialize()


def test_a_sender_report_reads_what_aiortc_writes() -> None:
    theirs = aiortc_rtp.RtcpSrPacket(
        ssrc=7,
        sender_info=aiortc_rtp.RtcpSenderInfo(
            ntp_timestamp=0x0102030405060708, rtp_timestamp=9, packet_count=10, octet_count=11
        ),
        reports=[aiortc_rtp.RtcpReceiverInfo(0x11, 64, -3, 0x1FFFF, 120, 0xB7052000, 0x54000)],
    )
    (ours,) = parse_rtcp(bytes(theirs))
    assert ours == SenderReport(7, 0x0102030405060708, 9, 10, 11, [BLOCK])


def test_receiver_report_blocks_keep_a_negative_cumulative_loss() -> None:
    report = ReceiverReport(5, [BLOCK])
    (parsed,) = parse_rtcp(report.serialize())
    assert isinstance(parsed, ReceiverReport) and parsed.reports[0].packets_lost == -3


def test_cumulative_loss_is_clamped_to_24_signed_bits() -> None:
    big = ReportBlock(1, 0, 10**9, 0, 0, 0, 0)
    small = ReportBlock(1, 0, -(10**9), 0, 0, 0, 0)
    (parsed,) = parse_rtcp(ReceiverReport(5, [big, small]).serialize())
    assert [b.packets_lost for b in parsed.reports] == [0x7FFFFF, -0x800000]  # type: ignore[union-attr]


def test_bye_round_trips() -> None:
    assert parse_rtcp(Bye([1, 2, 0xFFFFFFFF]).serialize()) == [Bye([1, 2, 0xFFFFFFFF])]


# -- NACK (RFC 4585 §6.2.1) --------------------------------------------------------------------


def nack_items(packet: bytes) -> list[tuple[int, int]]:
    return [struct.unpack_from("!HH", packet, o) for o in range(12, len(packet), 4)]


def test_nack_packs_the_16_numbers_after_each_pid_into_its_bitmask() -> None:
    packet = Nack(1, 2, [100, 101, 103, 116, 117]).serialize()
    assert nack_items(packet) == [(100, 0b1000_0000_0000_0101), (117, 0)]


def test_nack_items_wrap_from_65535_to_0() -> None:
    packet = Nack(1, 2, [0, 65534, 1, 65535]).serialize()
    assert nack_items(packet) == [(65534, 0b111)]
    assert parse_rtcp(packet) == [Nack(1, 2, [65534, 65535, 0, 1])]


def test_nack_reads_what_aiortc_writes() -> None:
    theirs = aiortc_rtp.RtcpRtpfbPacket(fmt=1, ssrc=1, media_ssrc=2, lost=[10, 12, 40])
    assert parse_rtcp(bytes(theirs)) == [Nack(1, 2, [10, 12, 40])]


def test_an_empty_nack_is_not_written() -> None:
    with pytest.raises(ValueError):
        Nack(1, 2, []).serialize()


@settings(max_examples=200)
@given(st.integers(0, 0xFFFF), st.sets(st.integers(0, 3000), min_size=1, max_size=200))
def test_nack_round_trips_any_loss_pattern(base: int, offsets: set[int]) -> None:
    lost = [(base + offset) & 0xFFFF for offset in offsets]
    packet = Nack(9, 8, lost).serialize()
    (parsed,) = parse_rtcp(packet)
    assert isinstance(parsed, Nack)
    assert sorted(parsed.lost) == sorted(lost)  # each number once
    # Greedy packing is optimal: no item's PID falls within the 16 after the previous PID.
    pids = [pid for pid, _ in nack_items(packet)]
    assert all((b - a) & 0xFFFF > 16 for a, b in itertools.pairwise(pids))


# -- PLI, FIR, REMB ----------------------------------------------------------------------------


def test_pli_and_fir_round_trip() -> None:
    packets = [Pli(1, 2), Fir(1, [(2, 255), (3, 0)])]
    assert parse_rtcp(compound(*packets)) == packets


def test_fir_wraps_its_command_sequence_number_at_8_bits() -> None:
    assert parse_rtcp(Fir(1, [(2, 256)]).serialize()) == [Fir(1, [(2, 0)])]


def test_remb_encodes_mantissa_and_exponent_exactly_like_aiortc() -> None:
    for bitrate in (0, 1, 0x3FFFF, 0x40000, 1_000_000, 2_500_000, 123_456_789):
        ours = Remb(1, bitrate, [5, 6]).serialize()
        assert ours[12:] == aiortc_rtp.pack_remb_fci(bitrate, [5, 6])
    assert Remb(1, 1_000_000, []).serialize()[12:] == b"REMB\x00\x0b\xd0\x90"  # 250000 << 2


@given(st.integers(0, 2**60), st.lists(st.integers(0, 0xFFFFFFFF), max_size=5))
def test_remb_keeps_18_significant_bits(bitrate: int, ssrcs: list[int]) -> None:
    (parsed,) = parse_rtcp(Remb(3, bitrate, ssrcs).serialize())
    assert isinstance(parsed, Remb) and parsed.ssrcs == ssrcs
    assert parsed.bitrate <= bitrate and bitrate - parsed.bitrate < max(1, bitrate >> 17)


def test_remb_refuses_what_it_cannot_say() -> None:
    for remb in (Remb(1, -1, []), Remb(1, 1, list(range(256))), Remb(1, 2**90, [])):
        with pytest.raises(ValueError):
            remb.serialize()


# -- compound packets --------------------------------------------------------------------------


def test_types_the_sfu_does_not_use_are_skipped_in_a_compound_packet() -> None:
    sdes = SourceDescription([(5, "cname-of-5")]).serialize()
    app = raw(204, 0, struct.pack("!I", 5) + b"name" + b"data")
    xr = raw(207, 0, struct.pack("!I", 5) + b"\x05\x00\x00\x00")
    other_afb = raw(206, 15, struct.pack("!II", 5, 0) + b"ABCD")
    sli = raw(206, 2, struct.pack("!II", 5, 6) + bytes(4))
    data = compound(ReceiverReport(5, [BLOCK]), Pli(5, 6)) + sdes + app + xr
    data += other_afb + sli + Remb(5, 300_000, [6]).serialize()
    assert parse_rtcp(data) == [ReceiverReport(5, [BLOCK]), Pli(5, 6), Remb(5, 300_000, [6])]


def test_sdes_cname_is_written_as_rfc_3550_asks() -> None:
    packet = SourceDescription([(0x01020304, "ab")]).serialize()
    # SSRC, CNAME item (type 1, length 2), a null item ending the list, padding to 32 bits.
    assert packet == b"\x81\xca\x00\x03\x01\x02\x03\x04\x01\x02ab\x00\x00\x00\x00"
    (theirs,) = aiortc_rtp.RtcpPacket.parse(packet)
    assert theirs.chunks[0].items == [(1, b"ab")]


def test_padding_at_the_end_of_a_compound_packet_is_ignored() -> None:
    data = Pli(1, 2).serialize() + raw(203, 1, struct.pack("!I", 9), padding=4)
    assert parse_rtcp(data) == [Pli(1, 2), Bye([9])]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80\xc9\x00",  # shorter than a header
        b"\x40\xc9\x00\x01" + bytes(4),  # version 1
        b"\x80\xc9\x00\x02" + bytes(4),  # length overruns
        Pli(1, 2).serialize() + b"\x81\xce",  # trailing fragment
        raw(201, 1, struct.pack("!I", 1)),  # one report block declared, none there
        raw(200, 0, bytes(20)),  # sender info cut short
        raw(203, 2, struct.pack("!I", 1)),  # BYE with two SSRCs, one there
        raw(205, 1, struct.pack("!II", 1, 2)),  # NACK without FCI
        raw(206, 4, struct.pack("!II", 1, 0)),  # FIR without entries
        raw(206, 15, struct.pack("!II", 1, 0) + b"REMB\x02\x00\x00\x01" + bytes(4)),
        b"\xa0\xc9\x00\x01" + bytes(4),  # padding count 0
        b"\xa0\xc9\x00\x01\x00\x00\x00\x09",  # padding longer than the packet
        raw(206, 1, bytes(4)),  # PLI without media SSRC
    ],
)
def test_broken_lengths_and_versions_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedPacket):
        parse_rtcp(data)


@st.composite
def rtcp_like(draw: st.DrawFn) -> bytes:
    """Packets with plausible headers and random bodies, to reach every body parser."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        packet_type = draw(st.sampled_from([200, 201, 202, 203, 204, 205, 206, 207]))
        first = 0x80 | draw(st.integers(0, 0x3F))
        body = draw(st.binary(max_size=60))
        words = draw(st.sampled_from([len(body) // 4, len(body) // 4 + 1, 0]))
        parts.append(struct.pack("!BBH", first, packet_type, words) + body)
    return b"".join(parts)


@settings(max_examples=500)
@given(st.one_of(st.binary(max_size=100), rtcp_like()))
def test_parse_rtcp_raises_only_malformed_packet(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except MalformedPacket:
        return
    for packet in packets:
        if not isinstance(packet, Nack) or packet.lost:
            assert parse_rtcp(packet.serialize())  # what was read can be written again


# -- NTP time ----------------------------------------------------------------------------------


def test_ntp_time_counts_from_1900_in_32_32_fixed_point() -> None:
    assert ntp_from_unix(0) == 2_208_988_800 << 32
    assert ntp_from_unix(0.5) & 0xFFFFFFFF == 1 << 31
    assert unix_from_ntp(ntp_from_unix(1_700_000_000.5)) == pytest.approx(1_700_000_000.5)
    assert ntp_middle(0x1122334455667788) == 0x33445566
    assert dlsr_from_seconds(5.25) == 0x00054000


def test_round_trip_time_follows_rfc_3550_figure_2() -> None:
    # RFC 3550 §6.4.1: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000, DLSR = 0x0005:4000.
    arrival = 0xB7108000 << 16
    assert round_trip_time(0xB7052000, 0x00054000, arrival) == 6.125
    assert round_trip_time(0, 0, arrival) is None  # no sender report answered yet
    assert round_trip_time(0xB7108000, 0x00054000, arrival) is None  # clocks disagree
