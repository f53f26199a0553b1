"""Placement against a real redis-server: the least-loaded choice, compare-and-delete, a dead
home replaced, and THE RACE: many claims for one new meeting from separate connections (as
from separate machines) all get one and the same home."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable, RedisLink
from mosaic.cluster.placement import Choice, Placement, least_loaded
from mosaic.cluster.registry import Registry, WorkerLoad
from tests.helpers.redis import RedisServer


@dataclass
class Node:
    """One worker's view: its own link, registry (heartbeat) and placement, and a bus
    subscription on a connection of its own (its proof of life)."""

    link: RedisLink
    registry: Registry
    placement: Placement
    bus: aioredis.client.PubSub

    async def close(self) -> None:
        await self.registry.stop()
        await self.bus.aclose()
        await self.link.close()

    async def die(self) -> None:
        """As kill -9 looks from Redis: the subscription goes, the hash stays."""
        assert self.registry._task is not None
        self.registry._task.cancel()
        await self.bus.aclose()


async def _node(
    url: str,
    worker_id: str,
    load: Callable[[], dict[str, float]] | None = None,
    choose: Choice = least_loaded,
) -> Node:
    link = RedisLink(url)
    registry = Registry(
        link,
        worker_id,
        announce=lambda: {"http": "", "media": "", "udp": ""},
        load=load or (lambda: {"cpu": 0.0, "pps": 0.0, "participants": 0, "meetings": 0}),
    )
    bus = aioredis.Redis.from_url(url).pubsub()
    await bus.subscribe(keys.bus(worker_id))
    await bus.get_message(timeout=1.0)
    await registry.start()
    return Node(link, registry, Placement(link, registry, choose), bus)


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        await node.close()


async def test_a_new_meeting_goes_to_the_least_loaded_live_worker(
    redis_server: RedisServer, nodes: list[Node]
) -> None:
    def load(participants: int, cpu: float) -> Callable[[], dict[str, float]]:
        return lambda: {"cpu": cpu, "pps": 0.0, "participants": participants, "meetings": 0}

    nodes += [
        await _node(redis_server.url, "busy", load(40, 10.0)),
        await _node(redis_server.url, "idle", load(3, 90.0)),
        await _node(redis_server.url, "idler", load(3, 20.0)),
    ]
    assert await nodes[0].placement.claim("m1") == "idler"
    assert await nodes[1].placement.home_of("m1") == "idler"
    assert await nodes[0].placement.meetings_of("idler") == {"m1"}
    # Now "idler" holds a meeting: the next new one goes to "idle" (fewer meetings).
    assert await nodes[0].placement.claim("m2") == "idle"
    # A draining worker is not chosen.
    nodes[1].registry.set_draining()
    await asyncio.sleep(0.1)
    assert await nodes[0].placement.claim("m3") == "idler"


async def test_an_alive_home_stays_the_home(redis_server: RedisServer, nodes: list[Node]) -> None:
    nodes += [await _node(redis_server.url, "a"), await _node(redis_server.url, "b")]
    home = await nodes[0].placement.claim("m1")
    for _ in range(5):
        assert await nodes[1].placement.claim("m1") == home


async def test_a_dead_home_is_replaced_by_a_live_worker(
    redis_server: RedisServer, nodes: list[Node]
) -> None:
    nodes += [await _node(redis_server.url, "a"), await _node(redis_server.url, "b")]
    assert await nodes[0].placement.claim("m1") == "a"
    await nodes[0].die()
    assert await nodes[1].placement.home_of("m1") is None
    assert await nodes[1].placement.claim("m1") == "b"
    assert await nodes[1].placement.meetings_of("b") == {"m1"}
    assert await nodes[1].placement.meetings_of("a") == set()


async def test_release_deletes_only_its_own_home(
    redis_server: RedisServer, nodes: list[Node]
) -> None:
    nodes += [await _node(redis_server.url, "a"), await _node(redis_server.url, "b")]
    assert await nodes[0].placement.claim("m1") == "a"
    await nodes[1].placement.release("m1")  # not b's: nothing happens
    assert await nodes[1].placement.home_of("m1") == "a"
    await nodes[0].placement.release("m1")
    assert await nodes[1].placement.home_of("m1") is None
    assert await nodes[0].placement.meetings_of("a") == set()


async def test_reassert_after_redis_came_back_empty(
    redis_server: RedisServer, nodes: list[Node]
) -> None:
    nodes += [await _node(redis_server.url, "a"), await _node(redis_server.url, "b")]
    await nodes[0].placement.claim("m1")
    await nodes[0].placement.claim("m2")
    await nodes[0].link.redis.flushall()  # Redis restarted without persistence
    await nodes[1].link.redis.set(keys.home("m2"), "b")  # claimed again meanwhile
    assert await nodes[0].placement.reassert(["m1", "m2"]) == {"m2"}
    assert await nodes[0].link.redis.get(keys.home("m1")) == b"a"
    assert await nodes[0].link.redis.get(keys.home("m2")) == b"b"


async def test_no_live_worker_is_unavailable(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url)
    registry = Registry(link, "lonely", dict, dict)
    try:
        with pytest.raises(ClusterUnavailable):
            await Placement(link, registry).claim("m1")
    finally:
        await link.close()


async def test_racing_claims_from_many_connections_get_one_home(
    redis_server: RedisServer, nodes: list[Node]
) -> None:
    """Each of 8 nodes (its own connections, as another machine) claims 20 new meetings at
    once, and each believes itself the least loaded (as figures read at different moments
    may say), so every claim tries to write a different home: every meeting ends with
    exactly one home, the one every claim got, and in exactly one worker's meetings set."""

    def myself(worker_id: str) -> Choice:
        def choose(workers: Iterable[WorkerLoad]) -> WorkerLoad | None:
            return next((w for w in workers if w.id == worker_id), None)

        return choose

    nodes += [await _node(redis_server.url, f"w{i}", choose=myself(f"w{i}")) for i in range(8)]
    meetings = [f"m{i}" for i in range(20)]
    results = await asyncio.gather(*(node.placement.claim(m) for m in meetings for node in nodes))
    by_meeting: dict[str, set[str]] = {}
    for (meeting, _), home in zip(((m, n) for m in meetings for n in nodes), results, strict=True):
        by_meeting.setdefault(meeting, set()).add(home)
    assert all(len(homes) == 1 for homes in by_meeting.values()), by_meeting
    redis = nodes[0].link.redis
    for meeting, (home,) in by_meeting.items():
        assert await redis.get(keys.home(meeting)) == home.encode()
        holders = [
            n.registry.worker_id
            for n in nodes
            if await redis.sismember(keys.worker_meetings(n.registry.worker_id), meeting)
        ]
        assert holders == [home]
