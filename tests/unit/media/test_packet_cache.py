from hypothesis import given
from hypothesis import strategies as st

from mosaic.media.packet_cache import NackTracker, PacketCache


def test_cache_returns_recent_packets_and_forgets_overwritten_ones() -> None:
    cache = PacketCache(capacity=4)
    for seq in range(10):
        cache.store(seq, bytes([seq]))
    assert cache.get(9) == b"\x09"
    assert cache.get(6) == b"\x06"
    assert cache.get(5) is None
    assert cache.get(1234) is None


def test_a_gap_is_reported_once_then_retried_until_given_up() -> None:
    tracker = NackTracker(max_retries=3)
    assert tracker.received(100, 0.0) == []
    assert tracker.received(104, 0.0) == [101, 102, 103]
    assert tracker.due(0.05) == []
    assert tracker.due(0.11) == [101, 102, 103]
    tracker.received(102, 0.12)  # a retransmission arrived
    assert tracker.due(0.25) == [101, 103]
    assert tracker.due(0.40) == []  # three tries: given up


def test_gaps_across_the_wrap_are_found() -> None:
    tracker = NackTracker()
    tracker.received(65534, 0.0)
    assert tracker.received(1, 0.0) == [65535, 0]


def test_a_huge_jump_is_a_restart_not_thousands_of_losses() -> None:
    tracker = NackTracker(max_gap=256)
    tracker.received(0, 0.0)
    assert tracker.received(30000, 0.0) == []
    assert tracker.missing == []


@given(st.lists(st.integers(0, 65535), max_size=300))
def test_memory_stays_bounded_whatever_arrives(seqs: list[int]) -> None:
    tracker = NackTracker(max_gap=256, window=512)
    for index, seq in enumerate(seqs):
        tracker.received(seq, index * 0.01)
        tracker.due(index * 0.01)
    assert len(tracker.missing) <= 512
