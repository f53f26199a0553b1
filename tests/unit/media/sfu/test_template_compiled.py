"""`RtpWriter.template` and `set_abs_send_time` compiled in one call
(`fastpath.template_maker`, used by `UpStream.template`) against the Python pair: the same
template, byte for byte, for any packet, level, voice bit, writer and clock; None, having
made nothing, for what it leaves to them.

Skipped where the extension is not built (the pure path is then the only one)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.wire.rtp import (
    ExtensionIds,
    RtpHeader,
    RtpWriter,
    build_rtp,
    parse_rtp,
    set_abs_send_time,
)
from mosaic.rtc import fastpath
from tests.helpers.compiled import compiled_lane

pytestmark = compiled_lane


def _maker() -> fastpath.TemplateMaker:
    maker = fastpath.template_maker(RtpWriter, RtpHeader, ExtensionIds)
    assert maker is not None
    return maker


def _python(writer: RtpWriter, data: bytes, header: RtpHeader, now: float) -> bytearray:
    template = writer.template(data, header)
    if writer.abs_send_time_offset is not None:
        set_abs_send_time(template, writer.abs_send_time_offset, now)
    return template


@settings(max_examples=500, deadline=None)
@given(
    kind=st.sampled_from(["audio", "video"]),
    level_id=st.sampled_from([0, 1]),
    abs_id=st.sampled_from([0, 3]),
    tcc_id=st.sampled_from([0, 5]),
    level=st.one_of(st.none(), st.integers(0, 255)),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=2),
    padding=st.sampled_from([0, 0, 3]),
    payload=st.binary(max_size=60),
    now=st.one_of(st.floats(0, 1e7), st.floats(-1e6, 1e12, allow_nan=False)),
)
def test_the_same_template_as_the_python_pair(
    kind: str,
    level_id: int,
    abs_id: int,
    tcc_id: int,
    level: int | None,
    csrcs: list[int],
    padding: int,
    payload: bytes,
    now: float,
) -> None:
    writer = RtpWriter(
        kind, ExtensionIds(audio_level=level_id, abs_send_time=abs_id, transport_cc=tcc_id)
    )
    extensions = [] if level is None else [(1, bytes([level]))]
    data = build_rtp(
        payload_type=111,
        sequence_number=1,
        timestamp=2,
        ssrc=3,
        payload=payload,
        csrcs=csrcs,
        extensions=extensions,
        padding=padding,
    )
    header = parse_rtp(data, ExtensionIds(audio_level=1))
    got = _maker()(writer, data, header, now)
    expected = _python(writer, data, header, now)
    if got is None:
        # Left to Python: a packet without a level on a writer that numbers nothing.
        assert writer.transport_sequence_offset is None and level is None and kind == "audio"
        assert level_id
    else:
        assert type(got) is bytearray
        assert got == expected


def test_what_it_leaves_to_python() -> None:
    maker = _maker()
    writer = RtpWriter("video", ExtensionIds(abs_send_time=3, transport_cc=5))
    data = build_rtp(payload_type=96, sequence_number=1, timestamp=2, ssrc=3, payload=b"xy")
    header = parse_rtp(data, ExtensionIds())
    assert maker(writer, data, header, 1.5) == _python(writer, data, header, 1.5)
    assert maker(writer, bytearray(data), header, 1.5) is None  # not bytes
    assert maker(writer, data, header, 1) is None  # an int clock
    assert maker(writer, data, header, float("nan")) is None  # Python raises
    assert maker(writer, data, header, 1e300) is None  # beyond 64 bits
    header.payload_end = len(data) + 5  # out of the packet
    assert maker(writer, data, header, 1.5) is None
    assert maker(object(), data, header, 1.5) is None


def test_the_pure_path_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.PURE_ENV, "1")
    assert fastpath.template_maker(RtpWriter, RtpHeader, ExtensionIds) is None
