"""Recent packets of one incoming stream, and the ones that never came.

`PacketCache` lets the SFU answer a subscriber's NACK (RFC 4585 §6.2.1) itself, from what
the publisher already sent, instead of passing the NACK upstream. `NackTracker` notices gaps
in what a publisher sends and says which sequence numbers to NACK upstream, and when to ask
again. Both are bounded whatever numbers arrive: memory is fixed by their parameters.
"""

from __future__ import annotations

from mosaic.media.wire.serial import SEQ_MASK

# About 2 s of a 1.5 Mbit/s layer, or 10 s of Opus: enough for NACKs that can still help.
DEFAULT_CAPACITY = 512
# A jump of more than this many numbers is a restart or an outage, not loss worth repairing.
MAX_GAP = 1000
MAX_RETRIES = 3
DEFAULT_RTT = 0.1  # seconds, until the caller measures one
MIN_RETRY_INTERVAL = 0.02


class PacketCache:
    """Ring buffer of the last ``capacity`` packets of one stream, indexed by sequence number
    modulo ``capacity`` (a power of two, so the ring lines up with the 16-bit wrap).

    With ``max_capacity`` above ``capacity`` the ring doubles, up to it, whenever it would
    overwrite a packet that arrived less than ``history_s`` ago: it keeps about that much of
    the stream whatever its bitrate, where a fixed size kept 8 s of a 600 kbit/s camera
    (0.6 MB per publisher) to repair losses that matter for a second or two."""

    # A weak reference lets tests see that a departed publisher's cache is freed at once.
    __slots__ = ("__weakref__", "_arrivals", "_data", "_history", "_mask", "_max_mask", "_numbers")

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        max_capacity: int | None = None,
        history_s: float = 2.0,
    ) -> None:
        for size in (capacity, max_capacity or capacity):
            if size < 1 or size > 1 << 16 or size & (size - 1):
                raise ValueError("capacity must be a power of two up to 65536")
        self._mask = capacity - 1
        self._max_mask = max(capacity, max_capacity or capacity) - 1
        self._history = history_s
        self._numbers: list[int] = [-1] * capacity
        self._data: list[bytes | None] = [None] * capacity
        self._arrivals: list[float] = [0.0] * capacity

    @property
    def capacity(self) -> int:
        return self._mask + 1

    def store(self, sequence_number: int, data: bytes, arrival: float = 0.0) -> None:
        """Keep ``data`` (the whole packet as received) under its sequence number."""
        index = sequence_number & self._mask
        held = self._numbers[index]
        while (
            held != sequence_number
            and held >= 0
            and self._mask < self._max_mask
            and arrival - self._arrivals[index] < self._history
        ):
            self._grow()
            index = sequence_number & self._mask
            held = self._numbers[index]
        self._numbers[index] = sequence_number
        self._data[index] = data
        self._arrivals[index] = arrival

    def _grow(self) -> None:
        """Double the ring. Numbers apart modulo the old size are apart modulo the new one,
        so every packet keeps a slot of its own."""
        numbers, data, arrivals = self._numbers, self._data, self._arrivals
        capacity = 2 * (self._mask + 1)
        self._mask = capacity - 1
        self._numbers = [-1] * capacity
        self._data = [None] * capacity
        self._arrivals = [0.0] * capacity
        for number, packet, arrival in zip(numbers, data, arrivals, strict=True):
            if number >= 0:
                index = number & self._mask
                self._numbers[index] = number
                self._data[index] = packet
                self._arrivals[index] = arrival

    def get(self, sequence_number: int) -> bytes | None:
        """The packet stored under ``sequence_number``; None if never stored or overwritten."""
        index = sequence_number & self._mask
        if self._numbers[index] != sequence_number:
            return None
        return self._data[index]

    def arrival(self, sequence_number: int) -> float | None:
        """When that packet was stored (as given to `store`), or None."""
        index = sequence_number & self._mask
        if self._numbers[index] != sequence_number:
            return None
        return self._arrivals[index]

    def clear(self) -> None:
        capacity = self._mask + 1
        self._numbers = [-1] * capacity
        self._data = [None] * capacity


class NackTracker:
    """Loss detection for one incoming stream: which numbers to NACK now, and again later.

    A number is NACKed when a later one arrives (`received` returns it), then again every
    ``rtt`` (at least 20 ms) by `due`, ``max_retries`` times in all, until it arrives, one
    more ``rtt`` passes after its last try (the answer to that try is still welcome), or it
    falls more than ``window`` numbers behind the newest (the packet cache could not use it
    any more). A jump of more than ``max_gap`` numbers, either way, resets the tracker: a
    restarted source or a long outage is answered with a keyframe, not thousands of NACKs.
    So at most ``window`` numbers are ever tracked.
    """

    __slots__ = ("_max_gap", "_missing", "_newest", "_window", "max_retries", "rtt")

    def __init__(
        self,
        *,
        window: int = DEFAULT_CAPACITY,
        max_gap: int = MAX_GAP,
        max_retries: int = MAX_RETRIES,
        rtt: float = DEFAULT_RTT,
    ) -> None:
        self._window = window
        self._max_gap = max_gap
        self.max_retries = max_retries
        self.rtt = rtt
        self._newest: int | None = None
        # Sequence number -> [times NACKed, when next due]; in detection order, which is
        # serial order, so the oldest is always first.
        self._missing: dict[int, list[float]] = {}

    def received(self, sequence_number: int, now: float) -> list[int] | None:
        """Note an arrival; return the numbers newly found missing (to NACK at once), or None
        when there are none (the common case: no list is made)."""
        newest = self._newest
        if newest is None:
            self._newest = sequence_number
            return None
        ahead = (sequence_number - newest) & SEQ_MASK
        if ahead == 1:
            self._newest = sequence_number
            if self._missing:
                self._forget_old()
            return None
        if ahead == 0:
            return None
        if ahead > self._max_gap:
            if ahead < (1 << 16) - self._max_gap:
                self.reset(sequence_number)  # far ahead or far behind: a restart
            else:
                self._missing.pop(sequence_number, None)  # late: a retransmission, or reordered
            return None
        self._newest = sequence_number
        first = max(1, ahead - self._window + 1)
        gap = [(newest + i) & SEQ_MASK for i in range(first, ahead)]
        due = now + max(self.rtt, MIN_RETRY_INTERVAL)
        missing = self._missing
        for number in gap:
            missing[number] = [1, due]
        self._forget_old()
        return gap

    def is_missing(self, sequence_number: int) -> bool:
        """Whether this number is still awaited (a retransmission of it is welcome)."""
        return sequence_number in self._missing

    def due(self, now: float) -> list[int]:
        """Missing numbers whose time to be NACKed again has come; each is asked for at most
        ``max_retries`` times in all, then given up one interval after the last."""
        ready: list[int] = []
        given_up: list[int] = []
        interval = max(self.rtt, MIN_RETRY_INTERVAL)
        for number, state in self._missing.items():
            if state[1] > now:
                continue
            if state[0] >= self.max_retries:
                # Its last try has had a round trip to be answered. (Given up the moment
                # it was sent, its answer was dropped as "too late" by `is_missing`: a
                # packet lost on the relay left the viewer's picture frozen until its
                # jitter buffer gave up, 2.5 s later.)
                given_up.append(number)
                continue
            ready.append(number)
            state[0] += 1
            state[1] = now + interval
        for number in given_up:
            del self._missing[number]
        return ready

    def reset(self, sequence_number: int | None = None) -> None:
        """Forget everything; ``sequence_number`` (if given) becomes the newest seen."""
        self._missing.clear()
        self._newest = sequence_number

    def _forget_old(self) -> None:
        # Insertion order is serial order (gaps are found newest-last, resets clear), so the
        # stale entries are always a prefix.
        newest = self._newest
        missing = self._missing
        while missing:
            oldest = next(iter(missing))
            if (newest - oldest) & SEQ_MASK < self._window:  # type: ignore[operator]
                return
            del missing[oldest]

    @property
    def missing(self) -> list[int]:
        """The numbers still missing, oldest first."""
        return list(self._missing)
