"""Each participant's connection quality (good / fair / poor) and uplink trouble.

Shown on every tile, so it must say something true and not blink: it is judged from what the
SFU sees of both directions (the participant's downlink: loss and round trip from its receiver
reports, whether its videos are held low or paused for bandwidth; its uplink: the loss on what it
publishes, and whether anything of its video still arrives), and a new class shows only once it
has lasted (worse: `WORSE_AFTER_S`; better: `BETTER_AFTER_S`).
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mosaic.media.sfu.up import UpStream, UpTrack

GOOD, FAIR, POOR = "good", "fair", "poor"
# Loss up to a few percent is repaired by NACK without a visible effect; above 10 % it shows.
FAIR_LOSS = 0.03
POOR_LOSS = 0.10
FAIR_RTT_S = 0.3
POOR_RTT_S = 0.6
# Uplink: the lowest layer losing this much cannot be carried.
UNSTABLE_LOSS = 0.20
# No video packet for this long while the camera (or screen) is on: the uplink gave up.
SILENT_AFTER_S = 1.0
# A simulcast publisher whose browser stopped every layer but the lowest, and sends that one
# below this rate: its own estimate has nothing left to give (Chromium's floor for its lowest
# layer is 30 kbit/s). Browsers avoid loss on their own, so loss alone would not tell.
STARVED_BPS = 45_000.0
WORSE_AFTER_S = 1.0
BETTER_AFTER_S = 4.0
LOSS_INTERVAL_S = 1.0


def classify(
    *,
    loss: float = 0.0,
    rtt_s: float | None = None,
    paused: bool = False,
    limited: bool = False,
    uplink_loss: float = 0.0,
    uplink_unstable: bool = False,
) -> str:
    """Poor: a video paused for bandwidth, an uplink that cannot carry its lowest layer, loss
    over 10 % either way or a round trip over 600 ms. Fair: a video held below its tile's
    layer, loss over 3 %, a round trip over 300 ms. Good otherwise."""
    worst_loss = max(loss, uplink_loss)
    rtt = rtt_s if rtt_s is not None else 0.0
    if paused or uplink_unstable or worst_loss > POOR_LOSS or rtt > POOR_RTT_S:
        return POOR
    if limited or worst_loss > FAIR_LOSS or rtt > FAIR_RTT_S:
        return FAIR
    return GOOD


_RANK = {GOOD: 0, FAIR: 1, POOR: 2}
NO, YES = "no", "yes"
_TROUBLE = {NO: 0, YES: 1}


class Debounced:
    """A value that changes only once a new observation has held long enough: ``worse``
    seconds toward a higher rank, ``better`` toward a lower one."""

    __slots__ = ("_candidate", "_since", "better", "ranks", "value", "worse")

    def __init__(
        self,
        value: str,
        worse: float = WORSE_AFTER_S,
        better: float = BETTER_AFTER_S,
        ranks: dict[str, int] = _RANK,
    ) -> None:
        self.value = value
        self.ranks = ranks
        self.worse = worse
        self.better = better
        self._candidate = value
        self._since = -math.inf

    def update(self, observed: str, now: float) -> bool:
        """Feed an observation; True when the shown value changed."""
        if observed == self.value:
            self._candidate = observed
            return False
        if observed != self._candidate:
            self._candidate = observed
            self._since = now
        hold = self.worse if self.ranks[observed] > self.ranks[self.value] else self.better
        if now - self._since >= hold:
            self.value = observed
            return True
        return False


class UplinkWatch:
    """One publisher's uplink as its video arrives: loss on its lowest flowing layer (per
    second, from the reception counters) and whether it can carry even that layer: not when
    no video arrives, when the lowest layer loses over 20 %, or when it is all that still
    flows of a simulcast track and starves."""

    __slots__ = ("_seen", "loss", "unstable")

    def __init__(self) -> None:
        self.loss = 0.0
        self.unstable = Debounced(NO, worse=2.0, better=BETTER_AFTER_S, ranks=_TROUBLE)
        # Per stream: (when, expected, received) at the start of the loss interval, and the
        # loss measured over the interval before.
        self._seen: weakref.WeakKeyDictionary[UpStream, tuple[float, int, int, float]] = (
            weakref.WeakKeyDictionary()
        )

    def update(self, tracks: list[UpTrack], now: float) -> bool:
        """Look again (on the allocation ticks); True when `unstable` changed."""
        trouble = False
        worst = 0.0
        for track in tracks:
            if track.kind != "video" or not track.forwarding or not track.streams:
                continue
            heard = [s for s in track.streams if s.stats.received]
            if not heard:
                continue
            if all(now - s.last_packet >= SILENT_AFTER_S for s in heard):
                trouble = True
                continue
            flowing = [s for s in heard if now - s.last_packet < SILENT_AFTER_S]
            lowest = flowing[0]  # streams are kept smallest first
            loss = self._loss(lowest, now)
            worst = max(worst, loss)
            if loss > UNSTABLE_LOSS:
                trouble = True
            alone = len(heard) > 1 and [s for s in heard if s.flowing(now)] == [heard[0]]
            if alone and heard[0].meter.rate(now) < STARVED_BPS:
                trouble = True
        self.loss = worst
        return self.unstable.update(YES if trouble else NO, now)

    def _loss(self, stream: UpStream, now: float) -> float:
        """Loss over the last whole interval of at least `LOSS_INTERVAL_S`."""
        stats = stream.stats
        seen = self._seen.get(stream)
        if seen is None:
            self._seen[stream] = (now, stats.expected, stats.received, 0.0)
            return 0.0
        when, expected, received, loss = seen
        if now - when < LOSS_INTERVAL_S:
            return loss
        expected_interval = stats.expected - expected
        lost = expected_interval - (stats.received - received)
        loss = max(0.0, lost / expected_interval) if expected_interval > 0 else 0.0
        self._seen[stream] = (now, stats.expected, stats.received, loss)
        return loss
