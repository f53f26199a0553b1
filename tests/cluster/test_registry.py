"""The registry against a real redis-server: heartbeats, expiry, and a dead process seen at
once (its bus subscription vanishes with its connection)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable, RedisLink
from mosaic.cluster.registry import Registry
from tests.helpers.redis import RedisServer


def _registry(link: RedisLink, worker_id: str, participants: int = 0, **kw: float) -> Registry:
    return Registry(
        link,
        worker_id,
        announce=lambda: {"http": "http://h", "media": "127.0.0.1", "udp": "50000-50099"},
        load=lambda: {"cpu": 12.5, "pps": 800.0, "participants": participants, "meetings": 1},
        **kw,
    )


async def _subscribe(url: str, worker_id: str) -> aioredis.client.PubSub:
    """A worker's bus subscription, made on a connection of its own."""
    pubsub = aioredis.Redis.from_url(url).pubsub()
    await pubsub.subscribe(keys.bus(worker_id))
    await pubsub.get_message(timeout=1.0)
    return pubsub


async def test_a_heartbeating_subscribed_worker_is_live_with_its_load(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    registry = _registry(link, "w1", participants=3)
    bus = await _subscribe(redis_server.url, "w1")
    await registry.start()
    try:
        assert await registry.is_alive("w1")
        [worker] = await registry.live()
        assert (worker.id, worker.http, worker.udp, worker.participants) == (
            "w1",
            "http://h",
            "50000-50099",
            3,
        )
        assert (worker.cpu, worker.pps, worker.draining) == (12.5, 800.0, False)
        ttl = await link.redis.pttl(keys.worker("w1"))
        assert 0 < ttl <= 5000
    finally:
        await registry.stop()
        await bus.aclose()
        await link.close()


async def test_a_worker_whose_heartbeats_stop_expires_and_is_forgotten(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    registry = _registry(link, "w1", every_s=0.1, dead_after_s=0.5)
    bus = await _subscribe(redis_server.url, "w1")
    await registry.start()
    await link.redis.set(keys.home("m1"), "w1")
    await link.redis.sadd(keys.worker_meetings("w1"), "m1")
    await asyncio.sleep(0.8)
    assert await registry.is_alive("w1")  # still beating past its expiry
    # A hung worker: its task stops (and its hash is not deleted, unlike a clean stop).
    assert registry._task is not None
    registry._task.cancel()
    await asyncio.sleep(0.7)
    try:
        assert not await registry.is_alive("w1")
        assert await registry.live() == []
        # Forgotten: out of the workers set, its homes given up, its meetings set gone.
        assert not await link.redis.sismember(keys.WORKERS, "w1")
        assert await link.redis.get(keys.home("m1")) is None
        assert not await link.redis.exists(keys.worker_meetings("w1"))
    finally:
        await bus.aclose()
        await link.close()


async def test_a_clean_stop_removes_the_worker_at_once(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url)
    registry = _registry(link, "w1")
    bus = await _subscribe(redis_server.url, "w1")
    await registry.start()
    await registry.stop()
    try:
        assert not await link.redis.exists(keys.worker("w1"))
        assert not await registry.is_alive("w1")
    finally:
        await bus.aclose()
        await link.close()


async def test_a_killed_process_is_dead_at_once_not_after_its_expiry(
    redis_server: RedisServer,
) -> None:
    """Another process subscribes to w2's channel (as w2's bus does) and is killed with
    SIGKILL: its hash still has seconds to live, but w2 is dead now."""
    link = RedisLink(redis_server.url)
    registry = _registry(link, "w1")
    other = _registry(link, "w2")
    bus = await _subscribe(redis_server.url, "w1")
    script = (
        f"import socket,sys;s=socket.create_connection(('127.0.0.1',{redis_server.port}));"
        f"s.sendall(b'SUBSCRIBE {keys.bus('w2')}\\r\\n');s.recv(100);print('ok',flush=True);"
        "sys.stdin.read()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ok"
        await registry.start()
        await other.beat()
        assert await registry.is_alive("w2")
        assert {w.id for w in await registry.live()} == {"w1", "w2"}
        process.kill()
        process.wait()
        for _ in range(50):  # the server notices the closed socket within milliseconds
            if not await registry.is_alive("w2"):
                break
            await asyncio.sleep(0.02)
        assert not await registry.is_alive("w2")
        assert await link.redis.exists(keys.worker("w2"))  # its hash has not expired yet
        assert [w.id for w in await registry.live()] == ["w1"]
    finally:
        process.kill()
        await registry.stop()
        await bus.aclose()
        await link.close()


async def test_draining_is_announced_at_once(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url)
    registry = _registry(link, "w1", every_s=60.0)
    bus = await _subscribe(redis_server.url, "w1")
    await registry.start()
    try:
        registry.set_draining()
        for _ in range(50):
            if (await registry.live())[0].draining:
                break
            await asyncio.sleep(0.02)
        assert (await registry.live())[0].draining
    finally:
        await registry.stop()
        await bus.aclose()
        await link.close()


async def test_redis_away_is_one_typed_error_and_its_return_is_seen(
    redis_server: RedisServer,
) -> None:
    link = RedisLink(redis_server.url)
    registry = _registry(link, "w1")
    try:
        await registry.beat()
        redis_server.stop()
        with pytest.raises(ClusterUnavailable):
            await registry.beat()
        assert not link.available
        redis_server.start()
        await registry.beat()
        assert link.available
    finally:
        await link.close()
