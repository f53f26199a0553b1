"""THE RACE, end to end: two joins of one new meeting, at once, through two `mosaic serve`
processes ("machines": their own data directories, one PostgreSQL, one Redis) — one home in
Redis, and both participants in the same room, each in the other's roster."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mosaic.client import join, parse_join_url
from mosaic.cluster import keys
from mosaic.security.signing import KEY_FILE
from tests.helpers import postgres as postgres_helper
from tests.helpers.api import signup
from tests.helpers.cluster import cluster_status
from tests.helpers.cluster_nodes import Node, start_nodes
from tests.helpers.participants import LOOPBACK
from tests.helpers.redis import RedisServer


async def _home_load(redis_url: str, home: str, meeting_id: str) -> tuple[int, bool]:
    """The home's participants, and whether it lists the meeting, once it counts two."""
    for _ in range(20):
        status = {w["id"]: w for w in await asyncio.to_thread(cluster_status, redis_url)}
        worker = status[home]
        if worker["participants"] == 2 and meeting_id in worker["meeting_ids"]:
            break
        await asyncio.sleep(0.5)
    return worker["participants"], meeting_id in worker["meeting_ids"]


@pytest.fixture
def machines(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[Node]]:
    reason = postgres_helper.unavailable()
    if reason is not None:
        pytest.skip(reason)
    database = postgres_helper.Postgres().start()
    nodes: list[Node] = []
    try:
        shared = ("--redis-url", redis_server.url, "--database-url", database.url)
        nodes += start_nodes([tmp_path / "a"], *shared)
        # The operator's step for several machines: the same signing key on each.
        (tmp_path / "b").mkdir()
        shutil.copy(tmp_path / "a" / KEY_FILE, tmp_path / "b" / KEY_FILE)
        nodes += start_nodes([tmp_path / "b"], *shared)
        yield nodes
    finally:
        for node in nodes:
            node.server.stop()
        database.stop()


async def test_two_joins_racing_on_two_machines_get_one_home(
    machines: list[Node], redis_server: RedisServer
) -> None:
    first, second = machines
    assert first.worker != second.worker
    host = await signup(first.url)
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        for round_ in range(3):
            created = await host.create_meeting(topic=f"Race {round_}", waiting_room=False)
            meeting_id = parse_join_url(created["join_url"])[1]
            assert await redis.get(keys.home(meeting_id)) is None  # a new meeting: no home
            ann, bob = await asyncio.gather(
                join(first.link(created["join_url"]), name="Ann", local_addresses=LOOPBACK),
                join(second.link(created["join_url"]), name="Bob", local_addresses=LOOPBACK),
            )
            try:
                home = (await redis.get(keys.home(meeting_id))).decode()
                assert home in {first.worker, second.worker}
                holders = [
                    node.worker
                    for node in machines
                    if await redis.sismember(keys.worker_meetings(node.worker), meeting_id)
                ]
                assert holders == [home]
                await ann.wait_until(lambda ann=ann, bob=bob: bob.id in ann.participants)
                await bob.wait_until(lambda ann=ann, bob=bob: ann.id in bob.participants)
                if round_ == 0:
                    # The home's next heartbeat counts them; `mosaic cluster status` shows it.
                    assert await _home_load(redis_server.url, home, meeting_id) == (2, True)
            finally:
                await ann.leave()
                await bob.leave()
    finally:
        await redis.aclose()
        await host.client.aclose()
