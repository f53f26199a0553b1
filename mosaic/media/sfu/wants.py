"""Which videos published on other workers a slice's viewers show: the relay mesh's want sets.

Visible tiles only, across workers: a slice asks a publisher's worker for a video while some
viewer of its own shows it, and for nothing else. `ViewerWants` keeps, per track, how many
viewers here show it, updated from each view change (`Router.on_view`) by the difference
between the viewer's old tiles and its new ones: a page flip of 49 tiles costs 98 dict
updates, whatever the size of the meeting, and marks only the workers whose share of the
wants changed. The mesh then posts each of those workers its whole want set (`message`):
whole, so that a message lost or repeated never leaves a track wanted for ever.

A viewer that has not said what it shows (no ``view`` yet) gets the first few cameras on one
worker; across workers it makes the slice's wants ``default``: each publisher's worker then
sends its first few videos (see `mesh.RelayMesh`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mosaic.domain.roster import Source
from mosaic.media.sfu.allocation import WantedVideo

Key = tuple[str, Source]
SOURCES = {source.value: source for source in Source}
MAX_NAME = 200
MAX_WANTED = 10_000  # tracks in one want set (a meeting's every camera and screen, and more)


@dataclass(frozen=True)
class PeerWants:
    """What a peer's viewers show of the videos published here (a `want` message, read)."""

    all: bool = False  # a recording home: every video
    default: bool = False  # a viewer there has said nothing yet: the first few
    tracks: frozenset[Key] = frozenset()

    @classmethod
    def parse(cls, message: dict[str, Any]) -> PeerWants | None:
        """A peer's `want` message, checked field by field; None if anything is off."""
        everything, default, tracks = (message.get(k) for k in ("all", "default", "tracks"))
        if not isinstance(everything, bool) or not isinstance(default, bool):
            return None
        if not isinstance(tracks, list) or len(tracks) > MAX_WANTED:
            return None
        keys: set[Key] = set()
        for entry in tracks:
            if (
                not isinstance(entry, list)
                or len(entry) != 2
                or not isinstance(entry[0], str)
                or len(entry[0]) > MAX_NAME
                or not isinstance(entry[1], str)
                or entry[1] not in SOURCES
            ):
                return None
            keys.add((entry[0], SOURCES[entry[1]]))
        return cls(everything, default, frozenset(keys))


class ViewerWants:
    """This slice's viewers' wants, counted per track, and which workers must hear again."""

    def __init__(self, me: str) -> None:
        self.me = me  # this worker: its own tracks are never asked for
        self.placement: dict[str, str] = {}  # participant -> its media worker
        self.everything = False  # `want_all_video`: a recording home
        self._views: dict[str, frozenset[Key] | None] = {}  # None: said nothing yet
        self._counts: dict[str, dict[Source, int]] = {}  # viewers showing each track
        self._defaults = 0  # viewers that said nothing yet
        self.dirty: set[str] = set()  # workers whose want set may have changed
        self.dirty_all = False  # every worker's (the default or all flag changed)

    def view(self, viewer: str, videos: list[WantedVideo] | None) -> None:
        """``viewer`` shows ``videos`` now (None: it said nothing yet; []: nothing, or it
        left)."""
        new = None if videos is None else frozenset((pid, src) for pid, src, _, _ in videos)
        old = self._views.get(viewer, frozenset())
        if new is not None and not new:
            self._views.pop(viewer, None)
        else:
            self._views[viewer] = new
        if (old is None) != (new is None):
            before = self._defaults > 0
            self._defaults += 1 if new is None else -1
            if (self._defaults > 0) != before:
                self.dirty_all = True
        old_keys, new_keys = old or frozenset(), new or frozenset()
        for pid, source in new_keys - old_keys:
            sources = self._counts.setdefault(pid, {})
            sources[source] = sources.get(source, 0) + 1
            if sources[source] == 1:
                self._changed(pid)
        for pid, source in old_keys - new_keys:
            sources = self._counts.get(pid, {})
            count = sources.get(source, 0) - 1
            if count > 0:
                sources[source] = count
                continue
            sources.pop(source, None)
            if not sources:
                self._counts.pop(pid, None)
            self._changed(pid)

    def place(self, placement: dict[str, str]) -> None:
        """Each participant's media worker now: a wanted track whose publisher moved is
        asked of its new worker (and no longer of the old one)."""
        old, self.placement = self.placement, dict(placement)
        for pid in self._counts:
            before, after = old.get(pid), self.placement.get(pid)
            if before != after:
                self.dirty.update(w for w in (before, after) if w is not None)

    def want_all(self, on: bool) -> None:
        if on != self.everything:
            self.everything = on
            self.dirty_all = True

    def take(self, workers: set[str]) -> set[str]:
        """Of ``workers`` (the peers), those to post again; the marks are cleared."""
        marked = set(workers) if self.dirty_all else self.dirty & workers
        self.dirty, self.dirty_all = set(), False
        return marked

    def message(self, worker: str) -> dict[str, Any]:
        """The whole want set for ``worker``: the tracks of participants placed there that
        some viewer here shows."""
        tracks = sorted(
            [pid, source.value]
            for pid, sources in self._counts.items()
            if self.placement.get(pid) == worker
            for source in sources
        )
        return {
            "type": "want",
            "all": self.everything,
            "default": self._defaults > 0,
            "tracks": tracks,
        }

    def _changed(self, pid: str) -> None:
        worker = self.placement.get(pid)
        if worker is not None and worker != self.me:
            self.dirty.add(worker)
