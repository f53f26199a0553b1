"""Who is alive in the cluster, and how loaded: each worker heartbeats its announcement and
load to Redis; placement reads it to choose homes, and `mosaic cluster status` to show it.

Life is judged two ways at once. The worker's hash expires 5 s after its last heartbeat (a
hung or partitioned worker stops being chosen), and its bus subscription (`PUBSUB NUMSUB`)
vanishes the moment its process dies — so a ``kill -9`` is seen at once, not 5 s later,
which is what lets a meeting find a new home within the issue's 5 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable, RedisLink

log = logging.getLogger(__name__)

# Forgets a worker whose hash is gone (dead for longer than its expiry): drops it from the
# set of workers, gives up the homes it still held (only those still its own), and deletes
# its meetings set. Atomic, so a worker that comes back at that moment loses nothing.
# KEYS: workers set, worker hash, worker meetings set. ARGV: worker id, home key prefix.
_FORGET = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
for _, meeting in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local key = ARGV[2] .. meeting
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True)
class WorkerLoad:
    """One live worker as its last heartbeat described it."""

    id: str
    http: str
    media: str
    udp: str
    cpu: float
    pps: float
    participants: int
    meetings: int
    draining: bool
    started: float
    # Participants whose media (publish and subscribe connections) this worker terminates,
    # of every meeting: what `MediaPlacement` weighs against --worker-capacity.
    media_participants: int = 0
    # Slices it runs of meetings whose home is another worker.
    slices: int = 0
    # When (wall clock, seconds) the worker read the figures it beat: a media placement made
    # before then is in them (`MediaPlacement` counts its reservations until then).
    at: float = 0.0

    @classmethod
    def parse(cls, worker_id: str, fields: dict[bytes, bytes]) -> WorkerLoad:
        def text(name: str) -> str:
            return fields.get(name.encode(), b"").decode()

        def number(name: str) -> float:
            try:
                return float(text(name) or 0)
            except ValueError:
                return 0.0

        return cls(
            id=worker_id,
            http=text("http"),
            media=text("media"),
            udp=text("udp"),
            cpu=number("cpu"),
            pps=number("pps"),
            participants=int(number("participants")),
            meetings=int(number("meetings")),
            draining=text("draining") == "1",
            started=number("started"),
            media_participants=int(number("media_participants")),
            slices=int(number("slices")),
            at=number("at"),
        )


class ProcessCpu:
    """This process's CPU use, in percent of one core, since the previous reading."""

    def __init__(self) -> None:
        self._wall = time.monotonic()
        self._cpu = time.process_time()

    def percent(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        elapsed = wall - self._wall
        used = cpu - self._cpu
        self._wall, self._cpu = wall, cpu
        return 100.0 * used / elapsed if elapsed > 0 else 0.0


class RateMeter:
    """Per-second rate of an ever-growing counter (forwarded packets), between readings."""

    def __init__(self, read: Callable[[], float]) -> None:
        self._read = read
        self._when = time.monotonic()
        self._last = read()

    def rate(self) -> float:
        now, value = time.monotonic(), self._read()
        elapsed = now - self._when
        delta = max(0.0, value - self._last)  # a counter that went back (a room closed)
        self._when, self._last = now, value
        return delta / elapsed if elapsed > 0 else 0.0


class Registry:
    """This worker's heartbeat, and everyone's liveness and load."""

    def __init__(
        self,
        link: RedisLink,
        worker_id: str,
        announce: Callable[[], dict[str, str]],
        load: Callable[[], dict[str, float]],
        every_s: float = 2.0,
        dead_after_s: float = 5.0,
    ) -> None:
        self._link = link
        self.worker_id = worker_id
        self._announce = announce
        self._load = load
        self.every_s = every_s
        self.dead_after_s = dead_after_s
        self.started = time.time()
        self.draining = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._forget = link.redis.register_script(_FORGET)
        # The figures of the last heartbeat sent (what /metrics shows of this worker).
        self.last: dict[str, str] = {}

    async def start(self) -> None:
        """The first heartbeat now (raises `ClusterUnavailable` if Redis is away: a worker
        that cannot announce itself must not start), then one every ``every_s``."""
        await self.beat()
        self._task = asyncio.create_task(self._loop(), name=f"heartbeat {self.worker_id}")

    async def stop(self) -> None:
        """Stop beating and delete this worker's hash: a clean exit is not a death."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(ClusterUnavailable):
            pipe = self._link.redis.pipeline(transaction=True)
            pipe.delete(keys.worker(self.worker_id))
            pipe.srem(keys.WORKERS, self.worker_id)
            await self._link.call(pipe.execute())

    def set_draining(self) -> None:
        """Say ``draining=1`` from now on; the next heartbeat is sent at once, so that
        placement stops choosing this worker before it hands its meetings away."""
        self.draining = True
        self._wake.set()

    async def beat(self) -> None:
        """Write this worker's hash with a fresh expiry, and list it among the workers."""
        at = time.time()
        fields = {
            **self._announce(),
            **{name: f"{value:g}" for name, value in self._load().items()},
            "draining": "1" if self.draining else "0",
            "started": f"{self.started:.3f}",
            "pid": str(os.getpid()),
            "at": f"{at:.6f}",  # to the microsecond: reservations made just before compare with it
        }
        name = keys.worker(self.worker_id)
        pipe = self._link.redis.pipeline(transaction=True)
        pipe.hset(name, mapping=fields)
        pipe.pexpire(name, int(self.dead_after_s * 1000))
        pipe.sadd(keys.WORKERS, self.worker_id)
        await self._link.call(pipe.execute())
        self.last = fields

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every_s)
            self._wake.clear()
            try:
                await self.beat()
            except ClusterUnavailable:
                pass  # logged by the link once; the next beat re-announces when Redis returns
            except Exception:
                log.exception("heartbeat failed")

    async def is_alive(self, worker_id: str) -> bool:
        """Its hash exists (heartbeats within the last 5 s) AND its bus subscription is
        there (its process has not died). Raises `ClusterUnavailable`."""
        pipe = self._link.redis.pipeline(transaction=False)
        pipe.exists(keys.worker(worker_id))
        pipe.pubsub_numsub(keys.bus(worker_id))
        exists, numsub = await self._link.call(pipe.execute())
        return bool(exists) and _subscribers(numsub) > 0

    async def live(self) -> list[WorkerLoad]:
        """Every live worker with its load, ordered by id; forgets the long dead on the way.
        The meetings count is the size of its meetings set (fresher than its heartbeat).
        Raises `ClusterUnavailable`."""
        redis = self._link.redis
        ids = sorted(m.decode() for m in await self._link.call(redis.smembers(keys.WORKERS)))
        if not ids:
            return []
        pipe = redis.pipeline(transaction=False)
        for worker_id in ids:
            pipe.hgetall(keys.worker(worker_id))
            pipe.scard(keys.worker_meetings(worker_id))
        pipe.pubsub_numsub(*(keys.bus(worker_id) for worker_id in ids))
        replies = await self._link.call(pipe.execute())
        listening = {
            (channel.decode() if isinstance(channel, bytes) else channel): int(count)
            for channel, count in replies[-1]
        }
        workers = []
        for index, worker_id in enumerate(ids):
            fields, meetings = replies[2 * index], replies[2 * index + 1]
            if not fields:
                await self._forget_dead(worker_id)
                continue
            if listening.get(keys.bus(worker_id), 0) == 0:
                continue  # its process died: its hash has not expired yet
            load = WorkerLoad.parse(worker_id, fields)
            workers.append(
                WorkerLoad(**{**load.__dict__, "meetings": max(load.meetings, int(meetings))})
            )
        return workers

    async def _forget_dead(self, worker_id: str) -> None:
        await self._link.call(
            self._forget(
                keys=[keys.WORKERS, keys.worker(worker_id), keys.worker_meetings(worker_id)],
                args=[worker_id, keys.home("")],
            )
        )


def _subscribers(numsub: list[tuple[bytes, int]]) -> int:
    return sum(int(count) for _, count in numsub)
