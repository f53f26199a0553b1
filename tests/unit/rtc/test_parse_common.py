"""The compiled common case of `parse_rtp` (`fastpath.rtp_parser`, used by
`PublishPeer._on_rtp`) against the Python parser: for any packet, well formed or not, it gives
the very header `parse_rtp` gives, field for field, or None; None for every packet
`parse_rtp` refuses; and a header for every well-formed one when no MID/RID is asked for.

Skipped where the extension is not built (the pure path is then the only one)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.wire.rtp import ExtensionIds, MalformedPacket, RtpHeader, build_rtp, parse_rtp
from mosaic.rtc import fastpath
from tests.helpers.compiled import compiled_lane

pytestmark = compiled_lane


def _parser() -> fastpath.RtpParser:
    parser = fastpath.rtp_parser(RtpHeader, ExtensionIds)
    assert parser is not None
    return parser


def _python(data: bytes, ids: ExtensionIds) -> RtpHeader | None:
    try:
        return parse_rtp(data, ids)
    except MalformedPacket:
        return None


def _check(data: bytes, ids: ExtensionIds) -> RtpHeader | None:
    """The compiled parser's answer, checked against the Python one's."""
    expected = _python(data, ids)
    got = _parser()(data, ids)
    if expected is None:
        assert got is None  # malformed: the Python parser's to refuse
    elif not (ids.mid or ids.rid or ids.repaired_rid):
        assert got is not None and type(got) is RtpHeader
        assert got == expected
        assert got.vp8_ids is None
    else:
        assert got is None  # MID/RID asked for: the Python parser's
    return got


SMALL_ID = st.integers(0, 14)
IDS = st.builds(
    ExtensionIds,
    audio_level=SMALL_ID,
    abs_send_time=SMALL_ID,
    mid=st.sampled_from([0, 0, 0, 4]),
    rid=st.sampled_from([0, 0, 0, 10]),
    repaired_rid=st.just(0),
    transport_cc=SMALL_ID,
)
ONE_BYTE = st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=4)), max_size=5)
TWO_BYTE = st.lists(st.tuples(st.integers(1, 255), st.binary(min_size=0, max_size=4)), max_size=5)


@settings(max_examples=500, deadline=None)
@given(
    ids=IDS,
    two_byte=st.booleans(),
    one=ONE_BYTE,
    two=TWO_BYTE,
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=3),
    padding=st.sampled_from([0, 0, 1, 4]),
    marker=st.booleans(),
    numbers=st.tuples(st.integers(0, 127), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1)),
    ssrc=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=40),
)
def test_well_formed_packets_parse_as_the_python_parser_does(
    ids: ExtensionIds,
    two_byte: bool,
    one: list[tuple[int, bytes]],
    two: list[tuple[int, bytes]],
    csrcs: list[int],
    padding: int,
    marker: bool,
    numbers: tuple[int, int, int],
    ssrc: int,
    payload: bytes,
) -> None:
    payload_type, sequence_number, timestamp = numbers
    data = build_rtp(
        payload_type=payload_type,
        sequence_number=sequence_number,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=payload,
        marker=marker,
        csrcs=csrcs,
        extensions=two if two_byte else one,
        two_byte=two_byte,
        padding=padding,
    )
    _check(data, ids)


@dataclass
class Damage:
    at: int
    value: int


@settings(max_examples=500, deadline=None)
@given(
    ids=IDS,
    elements=ONE_BYTE,
    two_byte=st.booleans(),
    damage=st.lists(st.builds(Damage, st.integers(0, 60), st.integers(0, 255)), max_size=3),
    cut=st.integers(0, 60),
)
def test_damaged_packets_are_the_python_parsers_to_refuse(
    ids: ExtensionIds,
    elements: list[tuple[int, bytes]],
    two_byte: bool,
    damage: list[Damage],
    cut: int,
) -> None:
    """Bytes overwritten anywhere (version, padding, CSRC count, extension lengths, element
    headers) and packets cut short: never a header where the Python parser raises."""
    data = bytearray(
        build_rtp(
            payload_type=111,
            sequence_number=1,
            timestamp=2,
            ssrc=3,
            payload=bytes(20),
            extensions=elements,
            two_byte=two_byte and bool(elements),
        )
    )
    for hit in damage:
        if hit.at < len(data):
            data[hit.at] = hit.value
    _check(bytes(data[: len(data) - cut % (len(data) + 1)]), ids)


@settings(max_examples=300, deadline=None)
@given(ids=IDS, data=st.binary(max_size=64))
def test_any_bytes(ids: ExtensionIds, data: bytes) -> None:
    _check(data, ids)
    _check(b"\x90" + data, ids)


def test_what_it_leaves_to_python() -> None:
    """Not bytes, another ids class, ids beyond a byte: None, the Python parser's."""
    parser = _parser()
    data = build_rtp(payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"x")
    ids = ExtensionIds(audio_level=1)
    assert parser(data, ids) == parse_rtp(data, ids)
    assert parser(bytearray(data), ids) is None
    assert parser(memoryview(data), ids) is None
    assert parser(data, ExtensionIds(audio_level=300)) is None
    assert parser(data, ExtensionIds(audio_level=-1)) is None

    @dataclass(slots=True)
    class Other:
        audio_level: int = 0

    assert parser(data, Other()) is None


def test_a_class_with_a_slot_it_does_not_fill_is_refused() -> None:
    @dataclass(slots=True)
    class Longer(RtpHeader):
        extra: int = 0

    @dataclass(slots=True)
    class Wider:
        payload_type: int
        extra: int

    with pytest.raises(TypeError):
        fastpath._fastpath.bind_rtp(Longer, ExtensionIds)
    with pytest.raises(TypeError):
        fastpath._fastpath.bind_rtp(Wider, ExtensionIds)
    _parser()  # bound to the real classes again
    assert fastpath._fastpath.bind_rtp(RtpHeader, ExtensionIds) is None


def test_the_pure_path_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.PURE_ENV, "1")
    assert fastpath.rtp_parser(RtpHeader, ExtensionIds) is None
