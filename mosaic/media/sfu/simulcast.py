"""Which simulcast layer each viewer gets, and how fast each layer flows.

A browser publishes its camera several times over (RFC 8853; Mosaic's client names the
layers q, h, f: a quarter, half and full size). Each viewer should get the smallest layer
that fills its tile sharply, unless its downlink cannot carry it. A switch costs a keyframe
from the publisher, so the choice must not flap with every wobble of a bandwidth estimate:
staying on a layer needs it to fit, moving up needs headroom and a calm spell since the last
time bandwidth pushed the viewer down.
"""

from __future__ import annotations

from dataclasses import dataclass

# Upscaling a layer by up to this factor still looks fine in a tile.
UPSCALE_TOLERANCE = 1.25
# Share of the estimated bandwidth that video may use (the rest: audio, RTCP, retransmits).
BANDWIDTH_USE = 0.9
# Moving up needs this much more room than the layer's measured rate...
UP_HEADROOM = 1.2
# ... and this long since bandwidth last pushed the viewer down.
UP_HOLD_S = 4.0


@dataclass(slots=True)
class Layer:
    """One simulcast layer as the SFU sees it: its rid, picture size (from keyframes) and
    measured bitrate in bit/s."""

    rid: str
    width: int
    height: int
    bitrate: float


def _ordered(layers: list[Layer]) -> list[Layer]:
    return sorted(layers, key=lambda layer: (layer.width * layer.height, layer.bitrate))


def sized_for(layers: list[Layer], want_width: int, want_height: int) -> int:
    """Index of the smallest layer that covers the tile, allowing some upscaling."""
    for index, layer in enumerate(layers):
        if (
            layer.width * UPSCALE_TOLERANCE >= want_width
            and layer.height * UPSCALE_TOLERANCE >= want_height
        ):
            return index
    return len(layers) - 1


def choose_layer(
    layers: list[Layer],
    want_width: int,
    want_height: int,
    bandwidth_bps: float | None,
    current: str | None = None,
    since_down: float = float("inf"),
) -> str | None:
    """The rid to forward, without memory: `LayerSelector` keeps ``current`` and
    ``since_down`` (seconds since bandwidth last pushed this viewer down) for you.

    The smallest layer that covers the tile, capped by bandwidth: the highest layer (not
    above that) whose rate fits ``bandwidth_bps`` x 0.9, and for a layer above ``current``
    with 1.2x headroom and only after `UP_HOLD_S` of calm. The lowest layer is always
    allowed; None only without layers; ``bandwidth_bps`` None means unlimited."""
    if not layers:
        return None
    ordered = _ordered(layers)
    wanted = sized_for(ordered, want_width, want_height)
    if bandwidth_bps is None:
        return ordered[wanted].rid
    budget = bandwidth_bps * BANDWIDTH_USE
    current_index = next((index for index, layer in enumerate(ordered) if layer.rid == current), -1)
    chosen = 0
    for index in range(1, wanted + 1):
        needed = ordered[index].bitrate
        if index > current_index:
            if since_down < UP_HOLD_S:
                break
            needed *= UP_HEADROOM
        if needed > budget:
            break
        chosen = index
    return ordered[chosen].rid


class LayerSelector:
    """Layer choice for one viewer of one video, with hysteresis (see `choose_layer`)."""

    __slots__ = ("current", "last_down")

    def __init__(self) -> None:
        self.current: str | None = None
        self.last_down = float("-inf")  # when bandwidth last pushed this viewer down

    def choose(
        self,
        layers: list[Layer],
        want_width: int,
        want_height: int,
        bandwidth_bps: float | None,
        now: float,
    ) -> str | None:
        """The rid to forward now (None only without layers). Pass live layers only: a
        paused layer measures 0 bit/s and would look affordable."""
        rid = choose_layer(
            layers,
            want_width,
            want_height,
            bandwidth_bps,
            self.current,
            now - self.last_down,
        )
        if rid is not None and self.current is not None and bandwidth_bps is not None:
            ordered = [layer.rid for layer in _ordered(layers)]
            unlimited = choose_layer(layers, want_width, want_height, None)
            if (
                self.current in ordered
                and ordered.index(rid) < ordered.index(self.current)
                and rid != unlimited
            ):
                self.last_down = now  # pushed down by bandwidth, not by a smaller tile
        self.current = rid
        return rid


class BitrateMeter:
    """Bit/s over a sliding window (default 1 s), in fixed buckets: `add` per packet is a
    few arithmetic operations, no allocation; `rate` sums the buckets."""

    __slots__ = ("_buckets", "_first", "_index", "_span", "window")

    def __init__(self, window: float = 1.0, buckets: int = 10) -> None:
        if window <= 0 or buckets < 2:
            raise ValueError("a positive window of at least two buckets")
        self.window = window
        self._span = window / buckets
        self._buckets = [0] * buckets
        self._index = 0  # the bucket being filled: floor(time / span)
        self._first: float | None = None  # when the first packet came

    def add(self, size_bytes: int, now: float) -> None:
        index = int(now // self._span)
        if index != self._index or self._first is None:
            self._advance(index, now)
        self._buckets[self._index % len(self._buckets)] += size_bytes

    def _advance(self, index: int, now: float) -> None:
        if self._first is None:
            self._first = now
        elif index < self._index:
            return  # the clock stepped back: keep filling the current bucket
        buckets = self._buckets
        count = len(buckets)
        if index - self._index >= count:
            buckets[:] = [0] * count
        else:
            for number in range(self._index + 1, index + 1):
                buckets[number % count] = 0
        self._index = index

    def rate(self, now: float) -> float:
        """Bits per second over the last window (over the time since the first packet, at
        the start)."""
        if self._first is None:
            return 0.0
        self._advance(int(now // self._span), now)
        # Full buckets behind the current one, plus the elapsed part of the current one.
        covered = (len(self._buckets) - 1) * self._span + (now - self._index * self._span)
        covered = min(covered, max(now - self._first, self._span))
        return sum(self._buckets) * 8 / covered


# A layer can arrive and still be useless: a publisher whose uplink is squeezed may keep
# sending every layer (its own estimate lags) while the top one loses a third of its packets,
# so its viewers freeze although packets flow. `LayerHealth` judges each layer by what
# arrives: its loss (gaps in its sequence numbers, net of what retransmission repaired) and a
# keyframe asked for that does not come. Sampled on the router's ticks, never per packet.
HEALTH_SAMPLE_S = 0.25
# Broken: this much loss over the last second (with enough packets to tell) ...
BROKEN_LOSS = 0.25
BROKEN_MIN_PACKETS = 20
# ... or this much over the last half second, so that a squeeze is seen within a second.
BROKEN_FAST_LOSS = 0.25
BROKEN_FAST_MIN_PACKETS = 30
# A keyframe asked for and not complete after this long: the layer cannot carry one.
KEYFRAME_OVERDUE_S = 1.2
# Clean again once its loss over a second stays under this for `CLEAN_AFTER_S` (doubled,
# up to `CLEAN_AFTER_MAX_S`, for a layer that breaks again within `RELAPSE_S` of recovering:
# intermittent loss must not move its viewers to and fro, each move costing a keyframe).
CLEAN_LOSS = 0.08
CLEAN_AFTER_S = 3.0
CLEAN_AFTER_MAX_S = 12.0
RELAPSE_S = 10.0
_SNAPSHOTS = 5  # cumulative counters at the last five samples: four intervals, one second


class LayerHealth:
    """Whether one simulcast layer arrives usable. `update` takes the stream's cumulative
    counters (RFC 3550 expected and received) on each tick; it samples them every
    `HEALTH_SAMPLE_S` into a fixed ring, so its cost is a few comparisons per tick."""

    __slots__ = (
        "_clean_after",
        "_count",
        "_expected",
        "_index",
        "_last_sample",
        "_received",
        "_recovered_at",
        "broken",
        "clean_since",
        "loss",
    )

    def __init__(self) -> None:
        self._expected = [0] * _SNAPSHOTS
        self._received = [0] * _SNAPSHOTS
        self._index = 0
        self._count = 0  # snapshots taken since the counters last made sense
        self._last_sample = float("-inf")
        self._clean_after = CLEAN_AFTER_S
        self._recovered_at = float("-inf")
        self.broken = False
        self.clean_since: float | None = None
        self.loss = 0.0  # over the last second

    def _window(self, intervals: int) -> tuple[int, float]:
        """Packets expected, and the share lost, over the last ``intervals`` samples."""
        newest = (self._index - 1) % _SNAPSHOTS
        oldest = (self._index - 1 - intervals) % _SNAPSHOTS
        expected = self._expected[newest] - self._expected[oldest]
        received = self._received[newest] - self._received[oldest]
        if expected <= 0:
            return 0, 0.0
        return expected, max(0.0, (expected - received) / expected)

    def update(
        self, expected: int, received: int, keyframe_wanted: float | None, now: float
    ) -> bool:
        """Take the counters now if a sample is due; True when `broken` changed."""
        if now - self._last_sample < HEALTH_SAMPLE_S:
            return False
        self._last_sample = now
        previous = (self._index - 1) % _SNAPSHOTS
        if self._count and (
            expected < self._expected[previous] or received < self._received[previous]
        ):
            self._count = 0  # the sender restarted its sequence: start over
        self._expected[self._index] = expected
        self._received[self._index] = received
        self._index = (self._index + 1) % _SNAPSHOTS
        self._count = min(self._count + 1, _SNAPSHOTS)
        slow_packets, slow_loss = (
            self._window(_SNAPSHOTS - 1) if self._count == _SNAPSHOTS else (0, 0.0)
        )
        fast_packets, fast_loss = self._window(2) if self._count >= 3 else (0, 0.0)
        self.loss = slow_loss
        overdue = keyframe_wanted is not None and now - keyframe_wanted > KEYFRAME_OVERDUE_S
        lossy = (slow_packets >= BROKEN_MIN_PACKETS and slow_loss >= BROKEN_LOSS) or (
            fast_packets >= BROKEN_FAST_MIN_PACKETS and fast_loss >= BROKEN_FAST_LOSS
        )
        if not self.broken:
            if lossy or overdue:
                self.broken = True
                self.clean_since = None
                if now - self._recovered_at < RELAPSE_S:
                    self._clean_after = min(self._clean_after * 2, CLEAN_AFTER_MAX_S)
                else:
                    self._clean_after = CLEAN_AFTER_S
                return True
            return False
        if lossy or overdue or slow_loss >= CLEAN_LOSS:
            self.clean_since = None
            return False
        if self.clean_since is None:
            self.clean_since = now
        if now - self.clean_since >= self._clean_after:
            self.broken = False
            self._recovered_at = now
            return True
        return False
