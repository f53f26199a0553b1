"""Guessers who spread their guesses over the workers of a cluster get one process's budget.

Two `mosaic serve --redis-url` processes (one data directory, one redis-server, the real
default throttles) stand for two workers, or two machines behind one load balancer; the
attacker alternates between them. Counted in each worker's memory, each would give its own
free failures (10 checked guesses instead of 5); counted in Redis (`mosaic.cluster.throttle`)
the limit is exactly one process's, as tests/security/test_guessing.py checks it on one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mosaic.client import join
from mosaic.domain.ids import new_meeting_id
from tests.helpers.api import signup
from tests.helpers.floods import guest_joins
from tests.helpers.guessing import FREE_FAILURES, join_from, login_from
from tests.helpers.redis import RedisServer
from tests.helpers.server import MosaicServer


@pytest.fixture
def workers(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[MosaicServer]]:
    """Two workers of one cluster with the real default limits, behind a "proxy" (any client
    address may be presented in X-Forwarded-For), the windows of the join-flood defence
    scaled down so that a flood takes seconds: 12 guests in 1 s, 30 in 20 s."""
    args = (
        "--redis-url", redis_server.url, "--trusted-proxies", "127.0.0.1",
        "--join-flood-windows", "1:12,20:30",
    )  # fmt: skip
    started: list[MosaicServer] = []
    try:
        for _ in range(2):  # one after the other: the first one creates the database
            started.append(MosaicServer(tmp_path / "data", *args).start())
        yield started
    finally:
        for server in started:
            server.stop()


async def test_war_dialing_spread_over_two_workers_gets_one_processs_budget(
    workers: list[MosaicServer],
) -> None:
    codes = [
        (await join_from(workers[i % 2], "198.51.100.7", new_meeting_id(), "123456"))[0]
        for i in range(12)
    ]
    assert codes[:FREE_FAILURES] == ["unauthorized"] * FREE_FAILURES, codes
    # Per worker, the address would have had 5 more free guesses on the other one.
    assert codes[FREE_FAILURES:].count("rate_limited") >= 6, codes


async def test_concurrent_guesses_spread_over_two_workers_get_only_the_free_checks(
    workers: list[MosaicServer],
) -> None:
    """20 at once, half on each worker: war-dialing (unknown meetings, answered by the worker
    the socket landed on) and a real meeting's passcode (answered by its home worker)."""
    host = await signup(workers[0].url)
    meeting = await host.create_meeting()
    for address, target in (("198.51.100.8", None), ("198.51.100.11", meeting["id"])):
        results = await asyncio.gather(
            *(
                join_from(workers[i % 2], address, target or new_meeting_id(), f"guess{i}")
                for i in range(20)
            )
        )
        codes = [code for code, _ in results]
        assert 1 <= codes.count("unauthorized") <= FREE_FAILURES, codes
        assert codes.count("rate_limited") >= 20 - FREE_FAILURES, codes


async def test_sign_in_guessing_spread_over_two_workers_is_throttled_as_by_one(
    workers: list[MosaicServer],
) -> None:
    account = await signup(workers[0].url)
    clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for server in workers]
    try:
        statuses = [
            (await login_from(clients[i % 2], "198.51.100.9", account.email, f"guess {i}"))[0]
            for i in range(8)
        ]
        assert statuses[:FREE_FAILURES] == [401] * FREE_FAILURES, statuses
        assert statuses[FREE_FAILURES:] == [429] * 3, statuses
        # Concurrent guesses from a fresh address, half on each worker: 5 checked at most.
        results = await asyncio.gather(
            *(
                login_from(clients[i % 2], "198.51.100.10", account.email, f"guess {i}")
                for i in range(30)
            )
        )
        codes = [status for status, _ in results]
        assert 1 <= codes.count(401) <= FREE_FAILURES, codes
    finally:
        for client in clients:
            await client.aclose()


async def test_a_join_flood_spread_over_two_workers_trips_the_defence(
    workers: list[MosaicServer],
) -> None:
    """Guests paced under the short window, alternating between the workers: the flood is
    one flood (every join reaches the meeting's home worker), caught by the 20 s window."""
    host = await signup(workers[0].url)
    meeting = await host.create_meeting(waiting_room=False, passcode_required=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        states = []
        for burst in range(3):
            if burst:
                await asyncio.sleep(1.2)  # never 12 within the short window
            for k in range(11):
                server = workers[(burst * 11 + k) % 2]
                states.append(await guest_joins(server, meeting["id"], f"Bot {burst}.{k}"))
        assert states[:29] == ["joined"] * 29, states
        assert states[29:] == ["waiting"] * 4, states
        alert = await boss.wait_for("alert", lambda e: e["code"] == "join_flood")
        assert (alert["guests"], alert["seconds"]) == (30, 20)


async def test_with_redis_away_no_guess_goes_unchecked(
    workers: list[MosaicServer], redis_server: RedisServer
) -> None:
    """The limits live in Redis: while it is away a guess is answered "unavailable" (503),
    never checked without being counted; when it is back, guessing is counted again."""
    account = await signup(workers[0].url)
    redis_server.stop()
    async with httpx.AsyncClient(base_url=workers[1].url, timeout=30) as client:
        status, _ = await login_from(client, "198.51.100.12", account.email, "guess")
        assert status == 503
        code, _ = await join_from(workers[1], "198.51.100.12", new_meeting_id(), "123456")
        assert code == "unavailable"
        redis_server.start()
        for _ in range(50):
            status, _ = await login_from(client, "198.51.100.12", account.email, "guess")
            if status != 503:
                break
            await asyncio.sleep(0.1)
        assert status == 401
