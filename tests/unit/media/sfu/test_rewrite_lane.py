"""The rewriter's compiled in-order lane (`fastpath.in_order_rewriter`, used by
`DownTrack.write`) against `SequenceRewriter.rewrite` alone: twin rewriters fed the same
packets, switches and drops give the same numbers and end in the same state, slot for slot;
the lane handles only the in-order case and leaves every other one, untouched, to Python.

Skipped where the extension is not built (the pure path is then the only one)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sfu.sequencer import MAX_JUMP, SequenceRewriter
from mosaic.rtc import fastpath
from tests.helpers.compiled import compiled_lane

pytestmark = compiled_lane
# Every slot the lane reads or writes, and the rest of the state besides.
STATE = [name for name in SequenceRewriter.__slots__ if name not in ("_segment", "_history")]


def _lane() -> fastpath.InOrder:
    lane = fastpath.in_order_rewriter(SequenceRewriter, MAX_JUMP)
    assert lane is not None
    return lane


def _state(r: SequenceRewriter) -> dict[str, object]:
    state: dict[str, object] = {name: getattr(r, name) for name in STATE}
    segment = r._segment
    state["segment"] = None if segment is None else (repr(segment.runs), segment.ts_offset)
    state["history"] = [(repr(s.runs), s.ts_offset, s.newest) for s in r._history]
    return state


def test_the_in_order_case_is_the_lanes_and_the_rest_is_declined() -> None:
    lane = _lane()
    r = SequenceRewriter(initial_sequence_number=65535, initial_timestamp=2**32 - 10)
    r.switch(1.0, 90000)
    assert lane(r, 100, 4_000_000_000, 1.0) is None  # a segment to start: Python's
    assert r.rewrite(100, 4_000_000_000, 1.0) is not None
    twin = SequenceRewriter(initial_sequence_number=65535, initial_timestamp=2**32 - 10)
    twin.switch(1.0, 90000)
    twin.rewrite(100, 4_000_000_000, 1.0)
    for number, timestamp, now in [(101, 4_000_003_000, 1.02), (103, 294_967_000, 1.04)]:
        got = lane(r, number, timestamp, now)
        assert got is not None and got == twin.rewrite(number, timestamp, now)
        assert _state(r) == _state(twin)
    before = _state(r)
    for number in (103, 102, (103 + MAX_JUMP + 1) & 0xFFFF, 50):  # repeated, late, jumps
        assert lane(r, number, 7, 2.0) is None
        assert _state(r) == before
    assert lane(r, 2**70, 7, 2.0) is None  # not a 64-bit value: Python's, as any oddity
    assert lane(r, 104, -(2**70), 2.0) is None
    assert lane(r, 104.0, 7, 2.0) is None
    assert _state(r) == before

    class Other(SequenceRewriter):
        __slots__ = ()

    assert lane(Other(), 1, 1, 1.0) is None
    assert lane(object(), 1, 1, 1.0) is None


def test_a_class_without_those_slots_is_refused() -> None:
    class NoSlots:
        pass

    with pytest.raises(TypeError):
        fastpath._fastpath.bind_rewriter(NoSlots, MAX_JUMP)
    with pytest.raises(ValueError):
        fastpath._fastpath.bind_rewriter(SequenceRewriter, 0x8000)
    _lane()  # bound to the rewriter again


def test_the_pure_path_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.PURE_ENV, "1")
    assert fastpath.in_order_rewriter(SequenceRewriter, MAX_JUMP) is None


NUMBER = st.integers(0, 0xFFFF)
TIMESTAMP = st.integers(0, 2**32 - 1)
OP = st.one_of(
    st.tuples(st.just("next"), st.integers(1, 5), st.integers(0, 6000), st.floats(0, 0.1)),
    st.tuples(st.just("next"), st.integers(1, 5), st.integers(0, 6000), st.floats(0, 0.1)),
    st.tuples(st.just("next"), st.integers(1, 5), st.integers(0, 6000), st.floats(0, 0.1)),
    st.tuples(st.just("late"), st.integers(0, 40), TIMESTAMP, st.floats(0, 0.1)),
    st.tuples(st.just("jump"), NUMBER, TIMESTAMP, st.floats(0, 3)),
    st.tuples(st.just("drop"), st.integers(1, 2), st.just(0), st.floats(0, 0.1)),
    st.tuples(st.just("switch"), NUMBER, TIMESTAMP, st.floats(0, 3)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(OP, max_size=120), NUMBER, TIMESTAMP, NUMBER, TIMESTAMP)
def test_twins_with_and_without_the_lane_agree_at_every_step(
    ops: list[tuple[str, int, int, float]], out_seq: int, out_ts: int, seq: int, ts: int
) -> None:
    lane = _lane()
    pure = SequenceRewriter(initial_sequence_number=out_seq, initial_timestamp=out_ts)
    laned = SequenceRewriter(initial_sequence_number=out_seq, initial_timestamp=out_ts)
    now = 1000.0
    for r in (pure, laned):
        r.switch(now, 90000, tag=0)
    for op, a, b, dt in ops:
        now += dt
        if op == "switch":
            seq, ts = a, b
            for r in (pure, laned):
                r.switch(now, 48000, tag=a)
            continue
        if op == "drop":
            seq = (seq + a) & 0xFFFF
            assert pure.drop(seq) == laned.drop(seq)
            continue
        if op == "next":
            seq, ts = (seq + a) & 0xFFFF, (ts + b) & 0xFFFFFFFF
            number, timestamp = seq, ts
        elif op == "late":
            number, timestamp = (seq - a) & 0xFFFF, b
        else:  # a jump anywhere: a restart, or a packet from long ago
            seq, ts = a, b
            number, timestamp = seq, ts
        in_order = not pure._pending and 0 < (number - pure._newest) & 0xFFFF <= MAX_JUMP
        expected = pure.rewrite(number, timestamp, now)
        got = lane(laned, number, timestamp, now)
        assert (got is not None) == in_order  # the in-order case, and only it, is the lane's
        if got is None:
            got = laned.rewrite(number, timestamp, now)
        assert got == expected
        assert _state(laned) == _state(pure)
    for back in range(0, 200, 7):
        number = (pure.last_sequence_number - back) & 0xFFFF
        assert laned.locate(number) == pure.locate(number)
    assert laned.rtp_time_now(now + 1) == pure.rtp_time_now(now + 1)
