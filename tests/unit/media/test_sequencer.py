"""An outgoing stream stays continuous across switches, pauses and drops."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sequencer import SequenceRewriter, seq_diff, ts_diff


def test_a_single_source_maps_by_a_fixed_offset() -> None:
    rewriter = SequenceRewriter(initial_sequence=1000, initial_timestamp=5000)
    rewriter.switch(0.0, 90000)
    out = [rewriter.rewrite(seq, seq * 3000, 0.0) for seq in (40000, 40001, 40002)]
    assert [o[0] for o in out if o] == [1000, 1001, 1002]
    assert [o[1] for o in out if o] == [5000, 8000, 11000]


def test_a_switch_continues_the_numbers_and_advances_the_clock_with_wall_time() -> None:
    rewriter = SequenceRewriter(initial_sequence=10, initial_timestamp=0)
    rewriter.switch(0.0, 90000, tag="a")
    rewriter.rewrite(500, 100, 0.0)
    last = rewriter.rewrite(501, 3100, 0.0)
    rewriter.switch(1.0, 90000, tag="b")
    first = rewriter.rewrite(30000, 999_999, 1.0)
    assert last and first
    assert first[0] == last[0] + 1
    assert ts_diff(first[1], last[1]) == 90000  # one second later


def test_late_packets_map_into_their_segment_and_very_old_ones_are_dropped() -> None:
    rewriter = SequenceRewriter()
    rewriter.switch(0.0, 90000)
    rewriter.rewrite(100, 0, 0.0)
    rewriter.rewrite(102, 0, 0.0)
    late = rewriter.rewrite(101, 0, 0.0)
    assert late is not None and late[0] == 1
    rewriter.rewrite(5000, 0, 0.0)
    assert rewriter.rewrite(100 - 10, 0, 0.0) is None


def test_packets_of_the_old_source_are_not_forwarded_after_a_switch() -> None:
    rewriter = SequenceRewriter()
    rewriter.switch(0.0, 90000, tag="a")
    rewriter.rewrite(100, 0, 0.0)
    rewriter.switch(0.1, 90000, tag="b")
    rewriter.rewrite(7000, 0, 0.1)
    assert rewriter.rewrite(6990, 0, 0.1) is None


def test_a_dropped_packet_leaves_no_gap_and_nacks_still_map_back() -> None:
    rewriter = SequenceRewriter()
    rewriter.switch(0.0, 90000, tag="a")
    first = rewriter.rewrite(10, 0, 0.0)
    assert rewriter.drop(11)
    after = rewriter.rewrite(12, 0, 0.0)
    assert first and after and after[0] == first[0] + 1
    assert rewriter.original(first[0])[:1] == (10,)  # type: ignore[index]
    assert rewriter.original(after[0])[:1] == (12,)  # type: ignore[index]


def test_out_of_order_drops_are_refused() -> None:
    rewriter = SequenceRewriter()
    rewriter.switch(0.0, 90000)
    rewriter.rewrite(10, 0, 0.0)
    assert not rewriter.drop(15)


def test_original_names_the_source_of_each_segment() -> None:
    rewriter = SequenceRewriter()
    rewriter.switch(0.0, 90000, tag="low")
    a = rewriter.rewrite(1, 0, 0.0)
    rewriter.switch(0.5, 90000, tag="high")
    b = rewriter.rewrite(900, 0, 0.5)
    assert a and b
    assert rewriter.original(a[0])[2] == "low"  # type: ignore[index]
    assert rewriter.original(b[0])[2] == "high"  # type: ignore[index]
    assert rewriter.original((b[0] + 100) % 65536) is None


operations = st.lists(
    st.one_of(
        st.tuples(st.just("switch"), st.integers(0, 65535), st.floats(0, 2)),
        st.tuples(st.just("packets"), st.integers(1, 30), st.floats(0, 0.5)),
        st.tuples(st.just("drop"), st.just(0), st.just(0.0)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300)
@given(st.integers(0, 65535), operations)
def test_in_order_output_is_consecutive_and_time_never_goes_back(start: int, ops) -> None:  # type: ignore[no-untyped-def]
    rewriter = SequenceRewriter(initial_sequence=start)
    now, seq, ts = 0.0, 0, 0
    sent: list[tuple[int, int]] = []
    for op, value, delay in ops:
        now += delay
        if op == "switch":
            rewriter.switch(now, 90000)
            seq, ts = value, value * 7
        elif op == "packets":
            for _ in range(value):
                seq, ts = (seq + 1) % 65536, (ts + 3000) % 2**32
                out = rewriter.rewrite(seq, ts, now)
                if out is not None:
                    sent.append(out)
        else:
            seq = (seq + 1) % 65536
            rewriter.drop(seq)
    for (s1, t1), (s2, t2) in itertools.pairwise(sent):
        assert seq_diff(s2, s1) == 1
        assert ts_diff(t2, t1) >= 0
