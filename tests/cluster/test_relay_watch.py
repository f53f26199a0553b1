"""When a landing worker takes a home worker for dead (real redis-server and real workers'
announcements): at once when its process is gone, never because Redis came back empty a
moment ago (its clients would be sent away, and their resume could claim a second home)."""

from __future__ import annotations

import asyncio

from mosaic.cluster.node import Cluster
from mosaic.signaling.relay import WATCH_S, Deaths
from tests.helpers.redis import RedisServer


async def checks(deaths: Deaths, worker_id: str, seconds: float) -> list[bool]:
    """Every verdict of the watch over ``seconds``, at its own pace."""
    verdicts = []
    for _ in range(int(seconds / WATCH_S)):
        await asyncio.sleep(WATCH_S)
        try:
            verdicts.append(await deaths.dead(worker_id))
        except Exception:  # Redis not answering yet: the watch learns nothing then
            continue
    return verdicts


async def test_a_home_is_dead_when_its_process_is_gone_not_when_redis_restarts(
    redis_server: RedisServer,
) -> None:
    def announce() -> dict[str, str]:
        return {"http": "http://h", "media": "127.0.0.1", "udp": ""}

    def load() -> dict[str, float]:
        return {"cpu": 1.0, "pps": 0.0, "participants": 0, "meetings": 0}

    home = await Cluster.open(redis_server.url, announce, load, worker_id="home")
    landing = await Cluster.open(redis_server.url, announce, load, worker_id="landing")
    try:
        deaths = Deaths(landing)
        assert await checks(deaths, "home", 1.0) == [False] * 4
        # Redis restarts, empty: no announcement, no subscription for a moment; then both
        # come back on their own. Never a death.
        redis_server.stop()
        redis_server.start()
        assert not any(await checks(deaths, "home", 4.0))
        # The home's process goes (its subscription with it, its announcement not yet):
        # dead within a second.
        assert home.bus is not None
        await home.bus.stop()
        verdicts = await checks(deaths, "home", Deaths.SUBSCRIPTION_MISSES * WATCH_S)
        assert verdicts[-1] is True and Deaths.SUBSCRIPTION_MISSES * WATCH_S <= 1.0
    finally:
        await home.close()
        await landing.close()
