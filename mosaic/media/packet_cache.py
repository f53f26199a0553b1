"""Recent packets of one incoming stream, and the ones that never came.

`PacketCache` answers subscribers' NACKs (RFC 4585 §6.2.1) without asking the publisher: the
SFU resends what it already has. `NackTracker` notices gaps in what a publisher sends and says
which sequence numbers to ask it for, and when to ask again.
"""

from __future__ import annotations

from mosaic.media.sequencer import seq_diff

# A fraction of a second of video at high bitrates: enough for NACKs that arrive in time.
DEFAULT_CAPACITY = 512


class PacketCache:
    """Ring buffer of the last ``capacity`` packets, indexed by sequence number."""

    __slots__ = ("_capacity", "_data", "_seqs")
    DEFAULT_CAPACITY = DEFAULT_CAPACITY

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._seqs: list[int] = [-1] * capacity
        self._data: list[bytes | None] = [None] * capacity

    def store(self, sequence_number: int, data: bytes) -> None:
        index = sequence_number % self._capacity
        self._seqs[index] = sequence_number
        self._data[index] = data

    def get(self, sequence_number: int) -> bytes | None:
        index = sequence_number % self._capacity
        if self._seqs[index] != sequence_number:
            return None
        return self._data[index]


class NackTracker:
    """Missing sequence numbers of one incoming stream, with retries spaced by a delay.

    Bounded whatever arrives: a jump of more than ``max_gap`` numbers is a restart, not 30,000
    losses, and numbers older than ``window`` are given up on."""

    def __init__(
        self, *, max_gap: int = 256, window: int = DEFAULT_CAPACITY, max_retries: int = 3
    ) -> None:
        self._newest: int | None = None
        self._missing: dict[int, tuple[int, float]] = {}  # seq -> (tries, next due time)
        self._max_gap = max_gap
        self._window = window
        self._max_retries = max_retries
        self.retry_delay = 0.1

    def received(self, sequence_number: int, now: float) -> list[int]:
        """Note an arrival; return the numbers newly found missing (to NACK at once)."""
        newest = self._newest
        if newest is None:
            self._newest = sequence_number
            return []
        ahead = seq_diff(sequence_number, newest)
        if ahead <= 0:
            self._missing.pop(sequence_number, None)
            return []
        self._newest = sequence_number
        if ahead > self._max_gap:
            self._missing.clear()
            return []
        gap = [(newest + i) & 0xFFFF for i in range(1, ahead)]
        due = now + self.retry_delay
        for seq in gap:
            self._missing[seq] = (1, due)
        self._forget_old()
        return gap

    def due(self, now: float) -> list[int]:
        """Missing numbers whose retry time has come (each asked for at most max_retries)."""
        ready = []
        for seq, (tries, when) in list(self._missing.items()):
            if when > now:
                continue
            if tries >= self._max_retries:
                del self._missing[seq]
                continue
            self._missing[seq] = (tries + 1, now + self.retry_delay)
            ready.append(seq)
        return ready

    def _forget_old(self) -> None:
        if self._newest is None:
            return
        newest = self._newest
        for seq in [s for s in self._missing if seq_diff(newest, s) > self._window]:
            del self._missing[seq]

    @property
    def missing(self) -> list[int]:
        return sorted(self._missing, key=lambda s: seq_diff(s, self._newest or 0))
