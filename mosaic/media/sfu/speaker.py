"""Who is speaking, from the audio level every packet carries (RFC 6464), without decoding.

Per packet only two counters move (`SpeakerDetector.level` is O(1), no allocation). Every
`tick` (each 100-300 ms) turns each source's share of speech packets in that interval into two
smoothed activities in 0..1: a fast one (about 0.3 s) for "is speaking" highlights and for
choosing which audio to forward, and a slow one (about 1.5 s) for the dominant speaker.

The dominant speaker changes only when a challenger's slow activity is clearly above the
current speaker's (by `MARGIN`, and at least `MIN_ACTIVITY`) for `HOLD_S` without a break: a
cough, a laugh or a short "yes" does not move the speaker view. Silence alone never takes the
floor away: a dominant speaker who stops stays dominant until someone else talks.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

# Levels are -dBov (RFC 6464 §3): 0 is the loudest, 127 silence. Speech through a browser's
# processing sits well above -50 dBov; room noise after noise suppression well below.
SPEECH_LEVEL = 50
# A packet the sender marks as voice (the V bit) counts as speech down to this level.
VOICE_LEVEL = 65
FAST_TAU_S = 0.3
SLOW_TAU_S = 1.5
MARGIN = 0.15
MIN_ACTIVITY = 0.3
HOLD_S = 1.0
# A source that sent nothing for this long is silent (muted, or its packets stopped).
SILENT_AFTER_S = 1.0


@dataclass(slots=True)
class _Source:
    packets: int = 0  # in the current tick interval
    speech: int = 0
    fast: float = 0.0
    slow: float = 0.0
    last_packet: float = float("-inf")
    last_speech: float = float("-inf")
    ahead_since: float | None = None  # when it began to qualify as a challenger


class SpeakerDetector:
    """Active-speaker detection for one meeting; sources are named by the caller (say, a
    participant id)."""

    __slots__ = ("_last_tick", "_sources", "dominant")

    def __init__(self) -> None:
        self._sources: dict[str, _Source] = {}
        self._last_tick: float | None = None
        self.dominant: str | None = None

    def level(
        self, source_id: str, level: int, now: float, voice_activity: bool | None = None
    ) -> None:
        """One audio packet's level (0..127 -dBov) and, when known, its V bit."""
        source = self._sources.get(source_id)
        if source is None:
            source = self._sources[source_id] = _Source()
        source.packets += 1
        source.last_packet = now
        if level <= SPEECH_LEVEL or (voice_activity and level <= VOICE_LEVEL):
            source.speech += 1
            source.last_speech = now

    def remove(self, source_id: str) -> None:
        """Forget a source (it left, or may no longer be heard); if it was the dominant
        speaker, there is none until someone else qualifies."""
        self._sources.pop(source_id, None)
        if self.dominant == source_id:
            self.dominant = None

    def tick(self, now: float) -> str | None:
        """Fold the packets since the last tick into the activities and decide; returns the
        new dominant speaker when it changed, else None."""
        elapsed = 0.2 if self._last_tick is None else max(0.0, now - self._last_tick)
        self._last_tick = now
        fast = 1.0 - math.exp(-elapsed / FAST_TAU_S)
        slow = 1.0 - math.exp(-elapsed / SLOW_TAU_S)
        for source in self._sources.values():
            share = source.speech / source.packets if source.packets else 0.0
            source.packets = source.speech = 0
            source.fast += (share - source.fast) * fast
            source.slow += (share - source.slow) * slow
        return self._decide(now)

    def _decide(self, now: float) -> str | None:
        current = self._sources.get(self.dominant) if self.dominant is not None else None
        floor = current.slow + MARGIN if current is not None else MIN_ACTIVITY
        best_id: str | None = None
        best = max(floor, MIN_ACTIVITY)
        for source_id, source in self._sources.items():
            if source is current or source.slow < max(floor, MIN_ACTIVITY):
                source.ahead_since = None
                continue
            if source.ahead_since is None:
                source.ahead_since = now
            # With nobody dominant yet, the first clear speaker takes the floor at once.
            held = current is None or now - source.ahead_since >= HOLD_S
            if held and source.slow >= best:
                best_id, best = source_id, source.slow
        if best_id is None:
            return None
        for source in self._sources.values():
            source.ahead_since = None
        self.dominant = best_id
        return best_id

    def _activity(self, source: _Source, now: float) -> float:
        return 0.0 if now - source.last_packet > SILENT_AFTER_S else source.fast

    def loudest(self, n: int, now: float) -> list[str]:
        """The ``n`` most active sources right now, most active first (ties: who spoke
        last): which audio to forward when more are unmuted than the cap."""
        return heapq.nlargest(
            n,
            self._sources,
            key=lambda source_id: (
                self._activity(self._sources[source_id], now),
                self._sources[source_id].last_speech,
            ),
        )

    def levels(self, now: float) -> dict[str, float]:
        """Smoothed speaking activity per source, 0..1 (for "is speaking" highlights)."""
        return {
            source_id: round(self._activity(source, now), 3)
            for source_id, source in self._sources.items()
        }
