"""Which simulcast layer each viewer gets.

A browser publishes its camera three times (rid q, h, f: a quarter, half and full size). Each
viewer should receive the smallest layer that still fills its tile sharply, unless its
bandwidth cannot carry it. Switching costs a keyframe, so small wobbles in the estimate must not
make the choice flap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# Upscaling a layer by up to this factor still looks fine in a tile.
UPSCALE_TOLERANCE = 1.25
# Moving up needs this much more bandwidth than the layer uses, and some calm first.
UP_HEADROOM = 1.2
UP_HOLD_S = 4.0
BANDWIDTH_USE = 0.9


@dataclass(slots=True)
class Layer:
    rid: str
    width: int
    height: int
    bitrate: float  # bits per second, measured


def choose_layer(
    layers: list[Layer],
    want_width: int,
    want_height: int,
    bandwidth_bps: float | None,
    current: str | None = None,
    since_down: float = float("inf"),
) -> str | None:
    """The rid to forward: sized for the tile, within bandwidth, with hysteresis.

    ``layers`` smallest first; ``current`` is the rid now forwarded; ``since_down`` the seconds
    since this viewer was last moved down for lack of bandwidth."""
    if not layers:
        return None
    wanted = layers[-1]
    for layer in layers:
        if (
            layer.width * UPSCALE_TOLERANCE >= want_width
            and layer.height * UPSCALE_TOLERANCE >= want_height
        ):
            wanted = layer
            break
    if bandwidth_bps is None:
        return wanted.rid
    order = [layer.rid for layer in layers]
    current_index = order.index(current) if current in order else -1
    budget = bandwidth_bps * BANDWIDTH_USE
    chosen = layers[0]
    for index, layer in enumerate(layers[: order.index(wanted.rid) + 1]):
        needed = layer.bitrate
        if index > current_index:
            needed *= UP_HEADROOM
            if since_down < UP_HOLD_S:
                break
        if needed <= budget:
            chosen = layer
    return chosen.rid


class BitrateMeter:
    """Bits per second over a sliding window, cheap enough to update per packet."""

    __slots__ = ("_bits", "_samples", "window")

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()
        self._bits = 0

    def add(self, size_bytes: int, now: float) -> None:
        bits = size_bytes * 8
        self._samples.append((now, bits))
        self._bits += bits
        cutoff = now - self.window
        samples = self._samples
        while samples[0][0] < cutoff:
            self._bits -= samples.popleft()[1]

    def rate(self, now: float) -> float:
        cutoff = now - self.window
        samples = self._samples
        while samples and samples[0][0] < cutoff:
            self._bits -= samples.popleft()[1]
        return self._bits / self.window
