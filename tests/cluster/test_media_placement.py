"""Media placement against a real redis-server: which worker terminates one more media
participant of a meeting. The home while it holds fewer than its capacity; then the least
loaded live, non-draining worker under capacity; all full, the least loaded anyway; and a
join storm (many choices between two heartbeats) spread, not piled on one worker."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from mosaic.cluster import keys
from mosaic.cluster.link import RedisLink
from mosaic.cluster.placement import MediaPlacement
from mosaic.cluster.registry import Registry
from tests.helpers.redis import RedisServer


@dataclass
class Worker:
    """One worker as Redis sees it: a heartbeat whose media figure the test sets, and a bus
    subscription of its own (its proof of life)."""

    link: RedisLink
    registry: Registry
    bus: aioredis.client.PubSub
    media: MediaPlacement
    figures: dict[str, float] = field(default_factory=dict)

    async def close(self) -> None:
        await self.registry.stop()
        await self.bus.aclose()
        await self.link.close()

    async def die(self) -> None:
        """As kill -9 looks from Redis: the subscription goes, the hash stays."""
        assert self.registry._task is not None
        self.registry._task.cancel()
        await self.bus.aclose()


async def _worker(url: str, worker_id: str, media: int = 0, capacity: int = 2) -> Worker:
    figures: dict[str, float] = {"cpu": 0.0, "media_participants": media}
    link = RedisLink(url)
    registry = Registry(link, worker_id, dict, lambda: dict(figures), every_s=60.0)
    bus = aioredis.Redis.from_url(url).pubsub()
    await bus.subscribe(keys.bus(worker_id))
    await bus.get_message(timeout=1.0)
    await registry.start()
    # fresh_s=0: every choice reads Redis, so the tests see each heartbeat at once; settle_s=0:
    # a heartbeat read after a reservation counts it.
    placement = MediaPlacement(registry, capacity, fresh_s=0.0, settle_s=0.0)
    return Worker(link, registry, bus, placement, figures)


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        await worker.close()


async def test_the_home_takes_media_until_its_capacity_then_the_least_loaded(
    redis_server: RedisServer, workers: list[Worker]
) -> None:
    workers += [
        await _worker(redis_server.url, "home", media=1),
        await _worker(redis_server.url, "busy", media=1),
        await _worker(redis_server.url, "idle", media=0),
    ]
    home = workers[0].media
    assert await home.choose("m1", home_media_count=1) == "home"  # 1 + 0 < 2
    # Its reservation counts until its heartbeat does: the home is full now.
    assert await home.choose("m1", home_media_count=1) == "idle"
    assert await home.choose("m1", home_media_count=1) == "busy"  # idle has 1 reserved too
    assert await home.choose("m1", home_media_count=1) == "idle"
    # Everyone full: the least loaded anyway, the home on a tie (no relay stream needed).
    assert await home.choose("m1", home_media_count=2) == "home"


async def test_a_meeting_homed_on_a_worker_full_of_other_meetings_spreads(
    redis_server: RedisServer, workers: list[Worker]
) -> None:
    """Capacity is per worker, every meeting counted: a new meeting's first participant
    spreads when its home already terminates other meetings' media up to capacity."""
    workers += [
        await _worker(redis_server.url, "home", media=2),
        await _worker(redis_server.url, "other", media=0),
    ]
    assert await workers[0].media.choose("new", home_media_count=0) == "other"


async def test_draining_and_dead_workers_are_not_chosen(
    redis_server: RedisServer, workers: list[Worker]
) -> None:
    workers += [
        await _worker(redis_server.url, "home", media=2),
        await _worker(redis_server.url, "draining", media=0),
        await _worker(redis_server.url, "dead", media=0),
        await _worker(redis_server.url, "ok", media=1),
    ]
    workers[1].registry.set_draining()
    await workers[1].registry.beat()
    await workers[2].die()
    assert await workers[0].media.choose("m1", home_media_count=2) == "ok"


async def test_a_join_storm_between_two_heartbeats_is_spread_over_the_workers(
    redis_server: RedisServer, workers: list[Worker]
) -> None:
    """40 choices at once, all reading the same heartbeats: without reservations all would
    go to the one least-loaded worker. With them each of 4 workers of capacity 10 gets 10."""
    workers += [await _worker(redis_server.url, f"w{i}", capacity=10) for i in range(4)]
    home = workers[0].media
    chosen = await asyncio.gather(*(home.choose("m1", home_media_count=0) for _ in range(40)))
    assert Counter(chosen) == {"w0": 10, "w1": 10, "w2": 10, "w3": 10}


async def test_reservations_give_way_to_the_heartbeats_that_count_them(
    redis_server: RedisServer, workers: list[Worker]
) -> None:
    """A reservation stops counting once the chosen worker's heartbeats include it, so that a
    participant is never counted twice (which would spread meetings needlessly)."""
    workers += [
        await _worker(redis_server.url, "home", media=2),
        await _worker(redis_server.url, "a", media=0),
        await _worker(redis_server.url, "b", media=1),
    ]
    home, a = workers[0].media, workers[1]
    assert await home.choose("m1", home_media_count=2) == "a"  # a: 0 + 1 reserved
    assert await home.choose("m1", home_media_count=2) == "a"  # tie with b, a's id first
    (load,) = [w for w in await a.registry.live() if w.id == "a"]
    assert home.load(load) == 2  # its heartbeat was read before: both reservations count
    # a's media arrived and its next heartbeat, read after the reservations, says 2.
    a.figures["media_participants"] = 2
    await a.registry.beat()
    (load,) = [w for w in await a.registry.live() if w.id == "a"]
    assert home.load(load) == 2  # not 4
    assert await home.choose("m1", home_media_count=2) == "b"


async def test_the_home_weighs_itself_by_its_exact_count_when_it_has_one(
    redis_server: RedisServer, workers: list[Worker]
) -> None:
    """Joins faster than heartbeats: the home's own placements, counted as they are made,
    fill it exactly to its capacity (a heartbeat plus reservations could count one twice)."""
    workers += [
        await _worker(redis_server.url, "home", capacity=3),
        await _worker(redis_server.url, "other"),
    ]
    here = [0]
    home = workers[0].media
    home.local_count = lambda: here[0]
    chosen = []
    for _ in range(4):
        worker = await home.choose("m1", home_media_count=here[0])
        here[0] += worker == "home"
        await workers[0].registry.beat()  # a heartbeat between every join, counting no one
        chosen.append(worker)
    assert chosen == ["home", "home", "home", "other"]
