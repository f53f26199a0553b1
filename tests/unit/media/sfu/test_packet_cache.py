"""Recent packets for answering NACKs, and upstream loss detection (RFC 4585 §6.2.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sfu.packet_cache import NackTracker, PacketCache

# -- PacketCache -------------------------------------------------------------------------------


def test_recent_packets_are_found_and_overwritten_ones_are_not() -> None:
    cache = PacketCache(capacity=4)
    for seq in range(10):
        cache.store(seq, bytes([seq]), arrival=seq / 10)
    assert cache.get(9) == b"\x09" and cache.get(6) == b"\x06"
    assert cache.get(5) is None  # its slot now holds 9
    assert cache.get(1234) is None  # never stored
    assert cache.arrival(8) == 0.8 and cache.arrival(5) is None


def test_the_ring_lines_up_with_the_sequence_number_wrap() -> None:
    cache = PacketCache(capacity=8)
    for seq in (65533, 65534, 65535, 0, 1, 2):
        cache.store(seq, seq.to_bytes(2, "big"))
    assert [cache.get(seq) is not None for seq in (65533, 65535, 0, 2)] == [True] * 4


def test_capacity_is_a_power_of_two() -> None:
    for capacity in (0, 3, 500, 1 << 17):
        with pytest.raises(ValueError):
            PacketCache(capacity)
    assert PacketCache(64).capacity == 64


def test_the_ring_grows_to_hold_its_history_and_no_further() -> None:
    cache = PacketCache(8, max_capacity=64, history_s=1.0)
    for seq in range(200):  # 100 packets/s: one second is 100 packets
        cache.store(seq, seq.to_bytes(2, "big"), arrival=seq / 100)
    assert cache.capacity == 64  # a second wants 128: max_capacity bounds it
    assert all(cache.get(seq) == seq.to_bytes(2, "big") for seq in range(136, 200))


def test_a_slow_stream_keeps_a_small_ring() -> None:
    cache = PacketCache(8, max_capacity=1024, history_s=1.0)
    for seq in range(400):  # 5 packets/s: 8 slots hold more than a second
        cache.store(seq, b"x", arrival=seq / 5)
    assert cache.capacity == 8


def test_growing_keeps_every_packet_it_held() -> None:
    cache = PacketCache(4, max_capacity=256, history_s=10.0)
    for seq in range(65530, 65536):
        cache.store(seq, seq.to_bytes(2, "big"), arrival=0.0)
    for seq in range(0, 50):
        cache.store(seq, seq.to_bytes(2, "big"), arrival=0.1)
    assert cache.capacity == 64
    held = [*range(65530, 65536), *range(50)]
    assert all(cache.get(seq) == seq.to_bytes(2, "big") for seq in held)


@given(st.lists(st.tuples(st.integers(1, 5), st.floats(0.0, 0.2)), min_size=1, max_size=300))
@settings(max_examples=50)
def test_every_packet_of_the_last_history_is_kept(steps: list[tuple[int, float]]) -> None:
    cache = PacketCache(4, max_capacity=1 << 16, history_s=1.0)
    seq, now, stored = 0, 0.0, []
    for gap, delay in steps:
        seq, now = seq + gap, now + delay
        cache.store(seq & 0xFFFF, b"p", arrival=now)
        stored.append((seq & 0xFFFF, now))
    assert all(cache.get(number) == b"p" for number, at in stored if now - at < 1.0)


def test_a_repeated_packet_does_not_grow_the_ring() -> None:
    cache = PacketCache(4, max_capacity=256, history_s=10.0)
    for _ in range(10):
        cache.store(7, b"again", arrival=0.0)
    assert cache.capacity == 4


def test_clear_forgets_everything() -> None:
    cache = PacketCache(8)
    cache.store(3, b"x")
    cache.clear()
    assert cache.get(3) is None


@given(st.lists(st.integers(0, 0xFFFF), max_size=200))
def test_get_returns_exactly_the_latest_packet_stored_in_each_slot(seqs: list[int]) -> None:
    cache = PacketCache(16)
    latest: dict[int, int] = {}
    for index, seq in enumerate(seqs):
        cache.store(seq, index.to_bytes(2, "big"))
        latest[seq % 16] = seq
    for seq in set(seqs):
        data = cache.get(seq)
        if latest[seq % 16] == seq:
            assert data is not None and seqs[int.from_bytes(data, "big")] == seq
        else:
            assert data is None


# -- NackTracker -------------------------------------------------------------------------------


def test_in_order_arrivals_report_nothing_and_make_no_list() -> None:
    tracker = NackTracker()
    assert [tracker.received(seq, 0.0) for seq in range(5)] == [None] * 5
    assert tracker.due(1.0) == []


def test_a_gap_is_reported_at_once_then_retried_every_rtt_until_given_up() -> None:
    tracker = NackTracker(max_retries=3, rtt=0.1)
    tracker.received(100, 0.0)
    assert tracker.received(104, 0.0) == [101, 102, 103]
    assert tracker.due(0.05) == []  # not before a round trip
    assert tracker.due(0.10) == [101, 102, 103]  # second try
    assert tracker.received(102, 0.12) is None  # a retransmission arrived
    assert tracker.due(0.15) == []
    assert tracker.due(0.20) == [101, 103]  # third and last try
    assert tracker.due(0.31) == [] and tracker.missing == []  # given up


def test_the_answer_to_the_last_try_is_still_welcome() -> None:
    """A number is given up one round trip after its last NACK, not as that NACK leaves:
    the relay and the publisher path drop a retransmission of a number no longer missing
    (`is_missing`), and the answer to the last try was dropped so: the hole stayed, and a
    viewer's picture froze until its jitter buffer gave up (2.5 s at 5 % relay loss)."""
    tracker = NackTracker(max_retries=3, rtt=0.1)
    tracker.received(100, 0.0)
    assert tracker.received(102, 0.0) == [101]
    assert tracker.due(0.1) == [101]
    assert tracker.due(0.2) == [101]  # the last try
    assert tracker.is_missing(101)  # its answer, a moment later, is taken
    assert tracker.due(0.25) == [] and tracker.missing == [101]
    assert tracker.due(0.31) == [] and not tracker.is_missing(101)  # then given up


def test_retries_follow_the_measured_round_trip_time() -> None:
    tracker = NackTracker(rtt=0.3)
    tracker.received(1, 0.0)
    tracker.received(3, 0.0)
    assert tracker.due(0.2) == []
    tracker.rtt = 0.05
    assert tracker.due(0.31) == [2]
    assert tracker.due(0.37) == [2]  # spaced by the new rtt


def test_gaps_across_the_wrap_are_found() -> None:
    tracker = NackTracker()
    tracker.received(65534, 0.0)
    assert tracker.received(1, 0.0) == [65535, 0]


def test_a_huge_jump_is_a_restart_not_thousands_of_losses() -> None:
    tracker = NackTracker(max_gap=1000)
    tracker.received(0, 0.0)
    tracker.received(2, 0.0)
    assert tracker.received(30000, 0.0) is None
    assert tracker.missing == []
    assert tracker.received(30002, 0.0) == [30001]  # and tracking goes on from there


def test_a_jump_far_back_is_a_restart_too() -> None:
    tracker = NackTracker(max_gap=1000)
    tracker.received(20000, 0.0)
    tracker.received(20002, 0.0)
    tracker.received(5, 0.0)
    assert tracker.missing == []
    assert tracker.received(7, 0.0) == [6]


def test_numbers_falling_out_of_the_cache_window_are_forgotten() -> None:
    tracker = NackTracker(window=8)
    tracker.received(0, 0.0)
    tracker.received(2, 0.0)  # 1 missing
    for seq in range(3, 10):
        tracker.received(seq, 0.0)
    assert tracker.missing == []  # 1 is 9 behind the newest: the cache no longer holds it


def test_a_gap_wider_than_the_window_reports_only_what_can_still_help() -> None:
    tracker = NackTracker(window=8, max_gap=1000)
    tracker.received(0, 0.0)
    assert tracker.received(20, 0.0) == list(range(13, 20))


def test_reset_forgets_the_stream() -> None:
    tracker = NackTracker()
    tracker.received(1, 0.0)
    tracker.received(5, 0.0)
    tracker.reset()
    assert tracker.missing == [] and tracker.received(9, 0.0) is None


@settings(max_examples=300)
@given(st.lists(st.integers(0, 0xFFFF), max_size=300))
def test_memory_stays_bounded_whatever_arrives(seqs: list[int]) -> None:
    tracker = NackTracker(window=64, max_gap=1000)
    for index, seq in enumerate(seqs):
        tracker.received(seq, index * 0.01)
        tracker.due(index * 0.01)
        assert len(tracker.missing) < 64


@settings(max_examples=200)
@given(st.integers(0, 0xFFFF), st.lists(st.integers(1, 20), max_size=100))
def test_every_skipped_number_is_reported_once_and_nothing_else(
    start: int, steps: list[int]
) -> None:
    tracker = NackTracker(window=4096)
    seq, received, reported = start, {start}, []
    tracker.received(seq, 0.0)
    for step in steps:
        seq = (seq + step) & 0xFFFF
        received.add(seq)
        reported += tracker.received(seq, 0.0) or []
    assert len(reported) == len(set(reported))
    assert set(reported).isdisjoint(received)
    assert len(reported) == sum(steps) - len(steps)
