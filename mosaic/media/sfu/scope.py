"""Who a viewer may receive at all: the filter the allocation starts from.

Breakout rooms split one meeting's media without new connections: a subscriber's slots are
filled only from the publishers its room holds, so a move between rooms is a new allocation
(slots re-pointed, a keyframe asked for each new video) on the very same connections. The
media plane does not know what a room is; it asks a `Scope` (answered by the signaling
layer from the domain) and applies the answer here, before layers and bandwidth are chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

# For one viewer: which publishers (by participant id) it may receive, or None for everyone
# (no breakout rooms open: the common case costs nothing).
Reach = Callable[[str], bool] | None
Scope = Callable[[str], Reach]

K = TypeVar("K")
V = TypeVar("V")


def in_reach(tracks: dict[tuple[str, K], V], reach: Reach) -> dict[tuple[str, K], V]:
    """The tracks whose publisher the viewer may receive (all of them when ``reach`` is None)."""
    if reach is None:
        return tracks
    return {key: track for key, track in tracks.items() if reach(key[0])}
