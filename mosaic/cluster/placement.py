"""Which worker is a meeting's home: one, ever, even when joins race on two machines.

The first join claims the meeting for the least-loaded live worker. Reading the load and
choosing happen outside Redis (two racing claims may choose different workers), but the
write is one Lua script — set the home only if it is unset or still the dead worker this
claim read — so exactly one choice lands, and every other claim reads it back and returns it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable, RedisLink
from mosaic.cluster.registry import Registry, WorkerLoad

log = logging.getLogger(__name__)

# KEYS: home key, the candidate's meetings set, the replaced (dead) home's meetings set.
# ARGV: the home this claim read ("" for none), the candidate, the meeting id.
# Returns the home after the script: the candidate if it won, else whoever holds it.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
-- unset, or still the dead home this claim read (a home released or forgotten since
-- it was read is free too)
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if current and current ~= ARGV[2] then redis.call('SREM', KEYS[3], ARGV[3]) end
return ARGV[2]
"""

# KEYS: home key, my meetings set. ARGV: my id, meeting id. Deletes the home only if mine.
_RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# KEYS: home key, my meetings set. ARGV: my id, meeting id. Sets the home if free; returns
# the home afterwards.
_REASSERT = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return ARGV[1]
"""

# A claim whose write lost to another (itself found dead in between) tries again; past this
# something is badly wrong (workers dying as fast as they are chosen).
MAX_ATTEMPTS = 5


def least_loaded(workers: Iterable[WorkerLoad]) -> WorkerLoad | None:
    """Fewest participants, then fewest meetings, then least CPU (the id breaks ties, so
    that every worker reading the same figures makes the same choice)."""
    return min(workers, key=lambda w: (w.participants, w.meetings, w.cpu, w.id), default=None)


Choice = Callable[[Iterable[WorkerLoad]], WorkerLoad | None]


class Placement:
    def __init__(self, link: RedisLink, registry: Registry, choose: Choice = least_loaded) -> None:
        """``choose`` picks among live workers (the least loaded); two workers reading the
        figures at different moments may choose differently, and the claim stays one."""
        self._link = link
        self._registry = registry
        self._choose = choose
        # True while meetings may not be placed anew: Redis just came back empty, and the
        # workers are still re-asserting the meetings they run (set by
        # `mosaic.signaling.failover`); placing one now could give it a second home.
        self.hold: Callable[[], bool] = lambda: False
        self._claim = link.redis.register_script(_CLAIM)
        self._release = link.redis.register_script(_RELEASE)
        self._reassert = link.redis.register_script(_REASSERT)

    @property
    def worker_id(self) -> str:
        return self._registry.worker_id

    async def _home(self, meeting_id: str) -> str | None:
        value = await self._link.call(self._link.redis.get(keys.home(meeting_id)))
        return value.decode() if value is not None else None

    async def home_of(self, meeting_id: str) -> str | None:
        """The meeting's home if it is alive; None if it has none or a dead one (no claim
        is made). Raises `ClusterUnavailable`."""
        home = await self._home(meeting_id)
        if home is not None and await self._registry.is_alive(home):
            return home
        return None

    async def claim(self, meeting_id: str) -> str:
        """The meeting's alive home, or a new one: the least-loaded live worker that is not
        draining (any live one if all are). Two claims racing anywhere return the same id.
        Raises `ClusterUnavailable` (Redis away, or no live worker at all)."""
        for _ in range(MAX_ATTEMPTS):
            current = await self._home(meeting_id)
            if current is not None and await self._registry.is_alive(current):
                return current
            if self.hold():
                raise ClusterUnavailable("Redis came back: meetings are being re-asserted")
            live = await self._registry.live()
            chosen = self._choose([w for w in live if not w.draining]) or self._choose(live)
            if chosen is None:
                raise ClusterUnavailable("no live worker to place the meeting on")
            won = await self._link.call(
                self._claim(
                    keys=[
                        keys.home(meeting_id),
                        keys.worker_meetings(chosen.id),
                        keys.worker_meetings(current or chosen.id),
                    ],
                    args=[current or "", chosen.id, meeting_id],
                )
            )
            home = won.decode() if isinstance(won, bytes) else str(won)
            if home == chosen.id:
                if current is not None:
                    log.info("meeting moved from dead worker %s to %s", current, home)
                return home
            # Another claim landed first: loop to check that its choice is alive.
        raise ClusterUnavailable(f"could not place meeting {meeting_id}")

    async def release(self, meeting_id: str) -> None:
        """Stop being the meeting's home (it ended, or this worker drains): deletes the home
        only if it is still this worker (compare-and-delete), never another's claim."""
        await self._link.call(
            self._release(
                keys=[keys.home(meeting_id), keys.worker_meetings(self.worker_id)],
                args=[self.worker_id, meeting_id],
            )
        )

    async def meetings_of(self, worker_id: str) -> set[str]:
        members = await self._link.call(self._link.redis.smembers(keys.worker_meetings(worker_id)))
        return {m.decode() for m in members}

    async def reassert(self, meeting_ids: Iterable[str]) -> set[str]:
        """After Redis came back empty: claim again the meetings this worker still runs,
        unless another worker has claimed one meanwhile. Returns those now held elsewhere
        (their room here is a stale copy the caller should close)."""
        lost = set()
        for meeting_id in meeting_ids:
            home = await self._link.call(
                self._reassert(
                    keys=[keys.home(meeting_id), keys.worker_meetings(self.worker_id)],
                    args=[self.worker_id, meeting_id],
                )
            )
            if (home.decode() if isinstance(home, bytes) else str(home)) != self.worker_id:
                lost.add(meeting_id)
        return lost


class MediaPlacement:
    """Which worker terminates a participant's media (its publish and subscribe connections):
    the meeting's home while the home holds fewer than ``capacity`` media participants, else
    the least-loaded live worker under capacity, and when every worker is full the least
    loaded anyway (capacity is a soft threshold: a meeting never refuses media for it).

    Called on the home, at a participant's first media operation (`SpannedMedia`). The
    other workers' figures are their heartbeats' ``media_participants``, up to a heartbeat
    old; so each choice made here is *reserved*, and counted on top of that worker's figure
    until a heartbeat read after it (``settle_s`` after it: the participant's first call
    crosses the bus meanwhile) counts it. Without that a join storm — hundreds of choices
    between two heartbeats — would all read the same figures and land on one worker; with a
    reservation kept longer, a participant would count twice and meetings spread needlessly.
    The heartbeat's time is the other worker's clock: machines a fraction of a second apart
    keep a reservation a beat longer or drop it a beat early, which a soft limit tolerates.
    """

    def __init__(
        self, registry: Registry, capacity: int, fresh_s: float = 0.25, settle_s: float = 0.25
    ) -> None:
        """``fresh_s``: a read of the registry younger than this is reused (a storm of
        choices costs Redis one read per ``fresh_s``, not one per participant; the
        reservations keep the choices apart meanwhile)."""
        if capacity < 1:
            raise ValueError("a worker's capacity is at least 1 participant")
        self._registry = registry
        self.capacity = capacity
        self._fresh_s = fresh_s
        self._settle_s = settle_s
        self._read: tuple[float, list[WorkerLoad]] | None = None
        # worker id -> when (wall clock) each of its reservations was made
        self._reserved: dict[str, list[float]] = {}
        # This worker's own media participants, every meeting, counted exactly and now (set
        # by `mosaic.signaling.span`: its placements here, which the caller records as soon
        # as `choose` returns). Without it the home weighs itself as it weighs the others,
        # by its heartbeat plus reservations, which may count a participant twice for a beat.
        self.local_count: Callable[[], int] | None = None

    @property
    def worker_id(self) -> str:
        return self._registry.worker_id

    async def _live(self) -> list[WorkerLoad]:
        now = time.monotonic()
        if self._read is not None and now - self._read[0] < self._fresh_s:
            return self._read[1]
        live = await self._registry.live()
        self._read = (now, live)
        return live

    def _pending(self, worker_id: str, beat_at: float) -> int:
        """Reservations on that worker its heartbeat read at ``beat_at`` may not count yet
        (and forget the others)."""
        kept = [
            made for made in self._reserved.get(worker_id, ()) if made + self._settle_s > beat_at
        ]
        if kept:
            self._reserved[worker_id] = kept
        else:
            self._reserved.pop(worker_id, None)
        return len(kept)

    def load(self, worker: WorkerLoad) -> int:
        """Media participants on that worker, its reservations here included."""
        return worker.media_participants + self._pending(worker.id, worker.at)

    async def choose(self, meeting_id: str, home_media_count: int) -> str:
        """The worker for one more media participant of ``meeting_id`` (this worker is its
        home; ``home_media_count``: that meeting's media participants already here). Never
        raises: with Redis away the media stays on the home."""
        home = self.worker_id
        try:
            live = await self._live()
        except ClusterUnavailable:
            return home
        ids = {worker.id for worker in live}
        for gone in set(self._reserved) - ids - {home}:
            del self._reserved[gone]  # dead or left: its reservations mean nothing now
        loads = {worker.id: self.load(worker) for worker in live}
        mine = next((w for w in live if w.id == home), None)
        if self.local_count is not None:
            home_load = max(home_media_count, self.local_count())
        else:
            home_load = max(
                home_media_count,
                loads[home]
                if mine is not None
                else self._pending(home, float(self._registry.last.get("at", 0.0))),
            )
        if home_load < self.capacity and (mine is None or not mine.draining):
            chosen = home
        else:
            loads[home] = home_load

            def key(worker: WorkerLoad) -> tuple[int, bool, float, str]:
                # The home wins ties: media on the home needs no relay stream.
                return (loads[worker.id], worker.id != home, worker.cpu, worker.id)

            open_ = [w for w in live if not w.draining and loads[w.id] < self.capacity]
            candidates = open_ or [w for w in live if not w.draining] or live
            best = min(candidates, key=key, default=None)
            if best is None:
                return home
            chosen = best.id
            if chosen != home:
                log.debug(
                    "meeting %s: media of a participant placed on %s (home %s holds %d)",
                    meeting_id, chosen, home, home_load,
                )  # fmt: skip
        if chosen != home or self.local_count is None:
            self._reserved.setdefault(chosen, []).append(time.time())
        return chosen
