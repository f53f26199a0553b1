"""One continuous outgoing stream from changing sources: sequence numbers and timestamps."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sfu.sequencer import HISTORY, MAX_JUMP, Origin, SequenceRewriter
from mosaic.media.wire.serial import seq_diff, ts_diff


def rewriter() -> SequenceRewriter:
    return SequenceRewriter(initial_sequence_number=1000, initial_timestamp=5000)


def test_the_first_packet_gets_the_initial_numbers() -> None:
    r = rewriter()
    r.switch(0.0, 90000, "cam")
    assert r.rewrite(40000, 123456, 0.0) == (1000, 5000)
    assert (r.last_sequence_number, r.last_timestamp) == (1000, 5000)


def test_initial_numbers_are_random_by_default() -> None:
    firsts = set()
    for _ in range(8):
        r = SequenceRewriter()
        firsts.add(r.rewrite(0, 0, 0.0))
    assert len(firsts) > 1


def test_one_source_maps_by_a_fixed_offset_and_its_losses_stay_visible() -> None:
    r = rewriter()
    r.switch(0.0, 90000)
    assert r.rewrite(65534, 4294967000, 0.0) == (1000, 5000)
    assert r.rewrite(65535, 4294967000, 0.0) == (1001, 5000)
    assert r.rewrite(2, 1000, 0.03) == (1004, 5000 + 296 + 1000)  # 0 and 1 lost: a gap
    assert r.original(1002) == 0 and r.original(1003) == 1  # NACKs name the lost ones


def test_a_switch_continues_the_numbers_and_advances_the_clock_by_wall_time() -> None:
    r = rewriter()
    r.switch(0.0, 90000, "low")
    r.rewrite(100, 9000, 0.0)
    r.rewrite(101, 12000, 0.033)
    r.switch(0.5, 90000, "high")
    # The new layer's first packet, a keyframe, comes 0.2 s after the switch was asked for.
    out_seq, out_ts = r.rewrite(7, 777, 0.7)  # type: ignore[misc]
    assert out_seq == 1002
    assert out_ts == 5000 + 3000 + int((0.7 - 0.033) * 90000)
    assert r.rewrite(8, 777 + 3000, 0.733) == (1003, out_ts + 3000)


def test_a_switch_with_no_time_elapsed_still_moves_the_timestamp_forward() -> None:
    r = rewriter()
    r.rewrite(1, 100, 1.0)
    r.switch(1.0, 48000)
    assert r.rewrite(500, 0, 1.0) == (1001, 5001)


def test_a_publisher_change_after_a_long_pause_never_goes_back_in_time() -> None:
    r = rewriter()
    r.rewrite(1, 0, 0.0)
    r.switch(3600 * 24.0, 90000)  # a day later: more than half the 32-bit timestamp space
    _, out_ts = r.rewrite(9, 0, 3600 * 24.0)  # type: ignore[misc]
    assert ts_diff(out_ts, 5000) > 0


def test_late_packets_of_the_current_segment_map_to_their_own_numbers() -> None:
    r = rewriter()
    r.rewrite(10, 0, 0.0)
    r.rewrite(13, 300, 0.0)
    assert r.rewrite(11, 100, 0.1) == (1001, 5100)  # a retransmission, late
    assert r.rewrite(13, 300, 0.1) == (1003, 5300)  # a duplicate: same number again
    assert r.last_sequence_number == 1003  # late packets do not move the stream on


def test_packets_from_before_the_segment_began_are_not_forwarded() -> None:
    r = rewriter()
    r.rewrite(500, 0, 0.0)
    r.switch(1.0, 90000)
    r.rewrite(20, 0, 1.0)
    assert r.rewrite(19, 0, 1.0) is None  # older than the switch point (before the keyframe)


def test_a_jump_beyond_max_jump_restarts_the_mapping_without_a_gap() -> None:
    r = rewriter()
    r.rewrite(10, 0, 0.0)
    assert r.rewrite(10 + MAX_JUMP + 1, 50, 0.02)[0] == 1001  # type: ignore[index]
    assert r.rewrite(5, 0, 0.04)[0] == 1002  # type: ignore[index]  # jumped far back: restart too


def test_a_dropped_padding_packet_leaves_no_gap() -> None:
    r = rewriter()
    r.rewrite(10, 0, 0.0)
    assert r.drop(11)
    assert r.rewrite(12, 0, 0.0) == (1001, 5000)
    assert r.rewrite(11, 0, 0.0) is None  # a late copy of the dropped one must not collide
    assert [r.original(n) for n in (1000, 1001, 1002)] == [10, 12, None]


def test_consecutive_drops_close_up_into_one_gapless_run() -> None:
    r = rewriter()
    r.rewrite(65534, 0, 0.0)
    for seq in (65535, 0, 1):
        assert r.drop(seq)
    assert r.rewrite(2, 0, 0.0) == (1001, 5000)
    assert r.rewrite(3, 0, 0.0) == (1002, 5000)
    assert [r.rewrite(seq, 0, 0.0) for seq in (65535, 0, 1)] == [None, None, None]
    assert r.original(1001) == 2


def test_a_late_packet_from_before_a_drop_keeps_its_number() -> None:
    r = rewriter()
    r.rewrite(10, 0, 0.0)
    r.rewrite(12, 0, 0.0)  # 11 lost for now: out 1001 stays free for it
    assert r.drop(13)
    assert r.rewrite(14, 0, 0.0) == (1003, 5000)
    assert r.rewrite(11, 0, 0.0) == (1001, 5000)  # the retransmission fills its own gap


def test_drops_out_of_order_cannot_be_hidden() -> None:
    r = rewriter()
    r.rewrite(10, 0, 0.0)
    r.rewrite(11, 0, 0.0)
    assert not r.drop(11)  # already numbered and sent
    assert not r.drop(9)  # behind the newest: its number is taken
    assert not r.drop(14)  # after a gap: 12 and 13 may still come
    assert r.rewrite(12, 0, 0.0) == (1002, 5000)


def test_a_drop_before_a_segments_first_packet_costs_no_number() -> None:
    r = rewriter()
    r.rewrite(10, 0, 0.0)
    r.switch(0.1, 90000)
    assert r.drop(70)
    assert r.rewrite(71, 0, 0.1)[0] == 1001  # type: ignore[index]
    assert r.rewrite(70, 0, 0.1) is None


def test_nacks_map_back_across_switches_to_the_right_source() -> None:
    r = rewriter()
    r.switch(0.0, 90000, "low")
    a = r.rewrite(100, 1000, 0.0)
    r.switch(0.1, 90000, "high")
    b = r.rewrite(900, 2000, 0.1)
    assert a and b
    assert r.locate(a[0]) == Origin(100, (a[1] - 1000) % 2**32, "low")
    assert r.locate(b[0]) == Origin(900, (b[1] - 2000) % 2**32, "high")
    assert r.original((b[0] + 1) % 65536) is None  # not sent yet
    assert r.original((b[0] + 200) % 65536) is None


def test_only_the_last_few_segments_are_remembered() -> None:
    r = rewriter()
    sent = []
    for segment in range(HISTORY + 2):
        r.switch(float(segment), 90000, segment)
        sent.append(r.rewrite(segment * 1000, 0, float(segment))[0])  # type: ignore[index]
    assert r.locate(sent[0]) is None
    assert [r.locate(n).tag for n in sent[1:]] == list(range(1, HISTORY + 2))  # type: ignore[union-attr]


def test_a_segment_longer_than_the_sequence_space_still_maps_late_packets() -> None:
    r = rewriter()
    for n in range(70_000):
        r.rewrite(n & 0xFFFF, n * 10, n * 0.001)
    late = (70_000 - 5) & 0xFFFF
    assert r.rewrite(late, 0, 70.0)[0] == (1000 + 70_000 - 5) & 0xFFFF  # type: ignore[index]
    assert r.original((1000 + 70_000 - 5) & 0xFFFF) == late


def test_sender_reports_extrapolate_the_rtp_clock() -> None:
    r = rewriter()
    assert not r.started and r.rtp_time_now(5.0) == 5000
    r.switch(0.0, 90000)
    r.rewrite(1, 100, 2.0)
    assert r.started and r.rtp_time_now(2.5) == 5000 + 45000
    assert r.rtp_time_now(3.0, clock_rate=48000) == 5000 + 48000


# -- properties --------------------------------------------------------------------------------


@dataclass
class Source:
    seq: int
    ts: int


PACKET = st.tuples(st.just("packet"), st.integers(0, 3000), st.floats(0, 0.1))
DROP = st.tuples(st.just("drop"), st.integers(0, 3000), st.floats(0, 0.1))
SWITCH = st.tuples(st.just("switch"), st.integers(0, 2**48), st.floats(0, 5))


def run_no_loss(ops: list[tuple[str, int, float]], start: int) -> list[tuple[int, int, bool]]:
    """Feed ops; return (out seq, out ts, first of a segment) per forwarded packet."""
    r = SequenceRewriter(initial_sequence_number=start, initial_timestamp=start * 7919)
    source = Source(start ^ 0x5A5A, 0)
    now, out, first = 0.0, [], True
    r.switch(now, 90000)
    for op, value, dt in ops:
        now += dt
        if op == "switch":
            source = Source(value & 0xFFFF, (value >> 16) & 0xFFFFFFFF)
            r.switch(now, 90000)
            first = True
            continue
        source.seq = (source.seq + 1) & 0xFFFF
        source.ts = (source.ts + value) & 0xFFFFFFFF
        if op == "drop":
            assert r.drop(source.seq)
            continue
        mapped = r.rewrite(source.seq, source.ts, now)
        assert mapped is not None
        out.append((*mapped, first))
        first = False
    return out


@settings(max_examples=300)
@given(st.lists(st.one_of(PACKET, PACKET, DROP, SWITCH), max_size=80), st.integers(0, 0xFFFF))
def test_in_order_output_is_consecutive_and_time_never_goes_back(
    ops: list[tuple[str, int, float]], start: int
) -> None:
    out = run_no_loss(ops, start)
    for (seq_a, ts_a, _), (seq_b, ts_b, first) in itertools.pairwise(out):
        assert seq_diff(seq_b, seq_a) == 1
        assert ts_diff(ts_b, ts_a) >= (1 if first else 0)


GAP = st.tuples(st.just("packet"), st.integers(1, 40), st.floats(0, 0.1))


@settings(max_examples=200)
@given(st.lists(st.one_of(GAP, GAP, SWITCH), max_size=60))
def test_losses_reach_the_receiver_as_equal_gaps_and_switches_as_none(
    ops: list[tuple[str, int, float]],
) -> None:
    r = SequenceRewriter(initial_sequence_number=65500, initial_timestamp=0)
    seq, now, previous, first = 65530, 0.0, None, True
    for op, value, dt in ops:
        now += dt
        if op == "switch":
            seq, first = value & 0xFFFF, True
            r.switch(now, 90000)
            continue
        seq = (seq + value) & 0xFFFF
        out = r.rewrite(seq, 0, now)
        assert out is not None
        if previous is not None:
            assert seq_diff(out[0], previous) == (1 if first else value)
        previous, first = out[0], False


LATE = st.tuples(st.just("late"), st.integers(0, 50), st.floats(0, 0.01))
LOSSY = st.tuples(st.just("packet"), st.integers(1, 3), st.floats(0, 0.05))
DROP1 = st.tuples(st.just("drop"), st.just(1), st.floats(0, 0.05))


@settings(max_examples=300)
@given(st.lists(st.one_of(LOSSY, LOSSY, DROP1, LATE, SWITCH), max_size=80))
def test_late_copies_and_nacks_find_the_same_packets(ops: list[tuple[str, int, float]]) -> None:
    r = SequenceRewriter(initial_sequence_number=0, initial_timestamp=0)
    r.switch(0.0, 90000, tag=0)
    seq, now, segment, pending = 100, 0.0, -1, True
    forwarded: dict[int, tuple[int, int]] = {}  # in seq -> (out seq, out ts), this segment
    by_segment: list[dict[int, int]] = []  # per segment: out seq -> in seq
    dropped: set[int] = set()
    for op, value, dt in ops:
        now += dt
        if op == "switch":
            seq, pending = value & 0xFFFF, True
            r.switch(now, 90000, tag=segment + 1)
            forwarded, dropped = {}, set()
        elif op == "late":
            if dropped and value % 2:  # a late copy of a dropped packet: never sent
                assert r.rewrite(sorted(dropped)[value % len(dropped)], 7, now) is None
            elif forwarded:  # a retransmission or duplicate: the number it had
                in_seq = sorted(forwarded)[-1 - value % len(forwarded)]
                assert r.rewrite(in_seq, 7, now) == forwarded[in_seq]
        elif op == "drop":
            seq = (seq + 1) & 0xFFFF
            r.drop(seq)
            if not pending:
                dropped.add(seq)
        elif op == "packet":
            seq = (seq + value) & 0xFFFF
            out = r.rewrite(seq, 7, now)
            assert out is not None
            if pending:
                segment, pending = segment + 1, False
                by_segment.append({})
            forwarded[seq] = out
            by_segment[segment][out[0]] = seq
    for index, packets in enumerate(by_segment):
        for out_seq, in_seq in packets.items():
            found = r.locate(out_seq)
            if index >= len(by_segment) - 1 - HISTORY:
                assert found is not None and (found.sequence_number, found.tag) == (in_seq, index)
            else:
                assert found is None
