"""Who is speaking, from the audio level each packet carries (RFC 6464), without decoding.

Each source's activity is a smoothed share of recent packets above a speech threshold. The
dominant speaker changes only when a challenger has been clearly more active for a while, so the
speaker view does not jump at every cough; silence alone never takes the floor away.
"""

from __future__ import annotations

from dataclasses import dataclass

# -dBov (0 = loudest). Speech in a meeting sits well above -50 dBov; room noise below.
SPEECH_LEVEL = 50
# Exponential smoothing per 20 ms packet: about half a second of memory.
SMOOTHING = 0.04
# A challenger must be this much more active, for this long, to take the floor.
MARGIN = 0.15
HOLD_S = 1.0
MIN_ACTIVITY = 0.3
SILENT_AFTER_S = 1.5


@dataclass(slots=True)
class _Source:
    activity: float = 0.0
    last_packet: float = 0.0
    ahead_since: float | None = None


class SpeakerDetector:
    def __init__(self) -> None:
        self._sources: dict[str, _Source] = {}
        self.dominant: str | None = None

    def level(self, source_id: str, level: int, now: float) -> None:
        """One audio packet's level (0..127 -dBov) from ``source_id``."""
        source = self._sources.get(source_id)
        if source is None:
            source = self._sources[source_id] = _Source()
        speaking = 1.0 if level < SPEECH_LEVEL else 0.0
        source.activity += (speaking - source.activity) * SMOOTHING
        source.last_packet = now

    def remove(self, source_id: str) -> None:
        self._sources.pop(source_id, None)
        if self.dominant == source_id:
            self.dominant = None

    def _activity(self, source: _Source, now: float) -> float:
        # A muted or gone source sends nothing: fade it out instead of freezing its score.
        return 0.0 if now - source.last_packet > SILENT_AFTER_S else source.activity

    def tick(self, now: float) -> str | None:
        """Re-decide; return the new dominant speaker when it changed, else None."""
        current = self._sources.get(self.dominant) if self.dominant else None
        floor = self._activity(current, now) if current else 0.0
        best_id, best = None, MIN_ACTIVITY
        for source_id, source in self._sources.items():
            if source_id == self.dominant:
                continue
            activity = self._activity(source, now)
            if activity >= max(MIN_ACTIVITY, floor + MARGIN):
                if source.ahead_since is None:
                    source.ahead_since = now
                if now - source.ahead_since >= HOLD_S and activity > best:
                    best_id, best = source_id, activity
            else:
                source.ahead_since = None
        if best_id is None and current is None and self.dominant is not None:
            self.dominant = None
            return None
        if best_id is None:
            return None
        self._sources[best_id].ahead_since = None
        self.dominant = best_id
        return best_id

    def loudest(self, count: int, now: float) -> list[str]:
        """The ``count`` most active sources right now, most active first."""
        ranked = sorted(
            self._sources, key=lambda sid: self._activity(self._sources[sid], now), reverse=True
        )
        return ranked[:count]

    def levels(self, now: float) -> dict[str, float]:
        return {sid: round(self._activity(s, now), 2) for sid, s in self._sources.items()}
