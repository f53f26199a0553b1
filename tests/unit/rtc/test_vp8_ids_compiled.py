"""`vp8_picture_ids` compiled (`fastpath.vp8_ids_reader`, used by `UpStream.template`)
against the Python function: the same answer for any bytes, any start, either container;
arguments it does not read itself go to the Python function.

Skipped where the extension is not built (the pure path is then the only one)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.wire.codecs import vp8_picture_ids
from mosaic.rtc import fastpath
from tests.helpers.compiled import compiled_lane

pytestmark = compiled_lane


def _reader() -> Any:
    reader = fastpath.vp8_ids_reader(vp8_picture_ids)
    assert reader is not vp8_picture_ids
    return reader


# Descriptors (RFC 7741 §4.2) with every combination of X, I, M, L, T/K, then anything.
DESCRIPTOR = st.builds(
    lambda x, extension, picture, rest: bytes([x, extension]) + picture + rest,
    st.sampled_from([0x00, 0x10, 0x80, 0x90, 0xB0]),
    st.sampled_from([0x00, 0x80, 0x40, 0xC0, 0xE0, 0xF0, 0x20]),
    st.sampled_from([b"", b"\x05", b"\x85", b"\x81\x02", b"\xff\xff"]),
    st.binary(max_size=4),
)


@settings(max_examples=600, deadline=None)
@given(
    prefix=st.binary(max_size=20),
    descriptor=st.one_of(DESCRIPTOR, st.binary(max_size=8)),
    cut=st.integers(0, 8),
    shift=st.integers(-3, 3),
    container=st.sampled_from([bytes, bytearray]),
)
def test_the_same_ids_as_the_python_function(
    prefix: bytes,
    descriptor: bytes,
    cut: int,
    shift: int,
    container: type,
) -> None:
    packet = container(prefix + descriptor[: max(0, len(descriptor) - cut)])
    start = max(0, len(prefix) + shift)
    assert _reader()(packet, start) == vp8_picture_ids(packet, start)


def test_what_it_leaves_to_the_python_function() -> None:
    """A negative start, a memoryview, an end given: the Python function's answers."""
    reader = _reader()
    packet = bytearray(b"\x00\x00\x90\xe0\x81\x02\x07")
    assert reader(packet, 2) == (4, 0x102, 0x7FFF, 6, 7)
    assert reader(packet, -5) == vp8_picture_ids(packet, -5) == (-3, 0x102, 0x7FFF, -1, 7)
    assert reader(memoryview(packet), 2) == vp8_picture_ids(memoryview(packet), 2)
    assert reader(packet, 2, 5) == vp8_picture_ids(packet, 2, 5) is None
    assert reader(packet, 100) is None
    assert reader(packet, 2**70) == vp8_picture_ids(packet, 2**70)


def test_the_pure_path_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.PURE_ENV, "1")
    assert fastpath.vp8_ids_reader(vp8_picture_ids) is vp8_picture_ids
