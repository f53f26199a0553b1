"""Serial-number arithmetic (RFC 1982) for 16-bit sequence numbers and 32-bit timestamps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mosaic.media.wire.serial import seq_diff, seq_gt, ts_diff, ts_gt

SEQ = st.integers(0, 0xFFFF)
TS = st.integers(0, 0xFFFFFFFF)


def test_sequence_numbers_compare_across_the_wrap() -> None:
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_gt(2, 65000) and not seq_gt(65000, 2)
    assert not seq_gt(7, 7)


def test_timestamps_compare_across_the_wrap() -> None:
    assert ts_diff(5, 0xFFFFFFFF) == 6
    assert ts_gt(5, 0xFFFFFFFF) and not ts_gt(0xFFFFFFFF, 5)


@given(SEQ, st.integers(-32767, 32767))
def test_seq_diff_undoes_an_offset_of_under_half_the_space(a: int, offset: int) -> None:
    b = (a + offset) & 0xFFFF
    assert seq_diff(b, a) == offset
    assert seq_gt(b, a) == (offset > 0)


@given(TS, st.integers(-(2**31) + 1, 2**31 - 1))
def test_ts_diff_undoes_an_offset_of_under_half_the_space(a: int, offset: int) -> None:
    b = (a + offset) & 0xFFFFFFFF
    assert ts_diff(b, a) == offset
    assert ts_gt(b, a) == (offset > 0)
