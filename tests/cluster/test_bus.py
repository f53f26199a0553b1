"""The bus between workers, on a real redis-server: messages reach the worker they are for,
in order, and the bus comes back on its own after Redis went away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mosaic.cluster import keys
from mosaic.cluster.bus import Bus
from mosaic.cluster.link import ClusterUnavailable, RedisLink
from tests.helpers.redis import RedisServer


class Worker:
    """A bus and what it heard."""

    def __init__(self, url: str, worker_id: str) -> None:
        self.link = RedisLink(url)
        self.bus = Bus(self.link, worker_id)
        self.heard: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.bus.on("note", self.hear)

    def hear(self, message: dict[str, Any]) -> None:
        self.heard.append(message)
        self.arrived.set()

    async def close(self) -> None:
        await self.bus.stop()
        await self.link.close()


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[tuple[Worker, Worker]]:
    a, b = Worker(redis_server.url, "wa"), Worker(redis_server.url, "wb")
    await a.bus.start()
    await b.bus.start()
    yield a, b
    await a.close()
    await b.close()


async def test_a_message_reaches_only_the_worker_it_is_for_in_order(
    workers: tuple[Worker, Worker],
) -> None:
    a, b = workers
    for n in range(200):
        await a.bus.send("wb", {"kind": "note", "n": n, "text": "é ✓"})
    await until(lambda: len(b.heard) == 200)
    assert [m["n"] for m in b.heard] == list(range(200))
    assert b.heard[0]["from"] == "wa" and b.heard[0]["text"] == "é ✓"
    assert a.heard == []


async def test_the_subscription_is_the_proof_of_life(
    workers: tuple[Worker, Worker], redis_server: RedisServer
) -> None:
    a, b = workers
    [(_, count)] = await a.link.redis.pubsub_numsub(keys.bus("wb"))
    assert count == 1
    await b.bus.stop()
    [(_, count)] = await a.link.redis.pubsub_numsub(keys.bus("wb"))
    assert count == 0


async def test_a_slow_coroutine_handler_does_not_hold_up_the_messages_behind_it(
    workers: tuple[Worker, Worker],
) -> None:
    a, b = workers
    release = asyncio.Event()

    async def slow(message: dict[str, Any]) -> None:
        await release.wait()

    b.bus.on("slow", slow)
    await a.bus.send("wb", {"kind": "slow"})
    await a.bus.send("wb", {"kind": "note", "n": 1})
    await until(lambda: len(b.heard) == 1)
    release.set()


async def test_garbage_and_unknown_kinds_are_ignored(
    workers: tuple[Worker, Worker],
) -> None:
    a, b = workers
    await a.link.redis.publish(keys.bus("wb"), b"not json")
    await a.link.redis.publish(keys.bus("wb"), b'["no", "kind"]')
    await a.bus.send("wb", {"kind": "nobody-listens"})
    await a.bus.send("wb", {"kind": "note", "n": 7})
    await until(lambda: len(b.heard) == 1)
    assert b.heard[0]["n"] == 7
    with pytest.raises(ValueError):
        await a.bus.send("wb", {"no": "kind"})


async def test_the_bus_subscribes_again_when_redis_returns(
    workers: tuple[Worker, Worker], redis_server: RedisServer
) -> None:
    a, b = workers
    again = asyncio.Event()
    b.bus.on_resubscribed(again.set)
    redis_server.stop()
    with pytest.raises(ClusterUnavailable):
        await a.bus.send("wb", {"kind": "note", "n": 0})
    await until(lambda: not b.bus.subscribed.is_set())
    redis_server.start()
    await asyncio.wait_for(again.wait(), 10)

    async def delivered() -> bool:
        with_retry = len(b.heard)
        try:
            await a.bus.send("wb", {"kind": "note", "n": 1})
        except ClusterUnavailable:
            return False
        await asyncio.sleep(0.1)
        return len(b.heard) > with_retry

    for _ in range(50):
        if await delivered():
            break
    assert b.heard and b.heard[-1]["n"] == 1


async def test_start_fails_clearly_without_redis(redis_server: RedisServer) -> None:
    url = redis_server.url
    redis_server.stop()
    link = RedisLink(url)
    with pytest.raises(ClusterUnavailable):
        await Bus(link, "wc").start(timeout_s=1.0)
    await link.close()
