"""A meeting's live state outlives its worker: kill -9 of a cluster worker, then a new one.

One `mosaic serve --redis-url` is killed (SIGKILL: nothing is flushed, nothing said goodbye)
and started again on the same port, data directory and Redis: the participants come back by
themselves, and what lived only in the dead process's memory -- raised hands in their order,
the chat each one was sent, the sources a suspension turned off, who left for good -- is read
back from Redis (`mosaic.cluster.journal`), while roles, names and admission ride in the signed
resume tokens and the lock and bans in the store. The clients come from addresses of their own
(``X-Forwarded-For`` from a trusted proxy, 127.0.0.1), so that the removed guest's address ban
does not touch the others.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from mosaic.client import Participant, SignalingError, join
from mosaic.client.participant import parse_join_url
from mosaic.client.signaling import SignalingClient
from mosaic.cluster import keys
from tests.helpers.api import signup
from tests.helpers.redis import RedisServer
from tests.helpers.server import MosaicServer

PROXIED = ("--trusted-proxies", "127.0.0.1", "--join-rate-per-minute", "100000",
           "--join-free-failures", "100000")  # fmt: skip
BACK_WITHIN_S = 10.0
_addresses = itertools.count(20)


def address() -> dict[str, str]:
    """A client address of its own (TEST-NET-3), as the trusted proxy reports it."""
    return {"X-Forwarded-For": f"203.0.113.{next(_addresses)}"}


@pytest.fixture
def worker(tmp_path: Path, redis_server: RedisServer) -> Iterator[MosaicServer]:
    running = MosaicServer(tmp_path / "data", "--redis-url", redis_server.url, *PROXIED).start()
    yield running
    running.stop()


async def kill_and_start_again(server: MosaicServer) -> None:
    """SIGKILL (a crash, an OOM kill), then the same command again."""

    def restart() -> None:
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        server.start()

    await asyncio.to_thread(restart)


async def resume_with(link: str, token: str) -> SignalingError:
    """A raw resume with a kept token; returns the refusal (fails if it was let in)."""
    url, _, _ = parse_join_url(link)
    client = SignalingClient(url, reconnect=False, headers=address())
    await client.connect()
    try:
        with pytest.raises(SignalingError) as refused:
            await client.request("resume", token=token)
        return refused.value
    finally:
        await client.close()


def hands(host: Participant) -> list[str]:
    """Raised hands, in the order they went up, as the host's people panel shows them."""
    raised = [p for p in host.participants.values() if p.get("hand") is not None]
    return [p["name"] for p in sorted(raised, key=lambda p: p["hand"])]


async def test_a_killed_worker_comes_back_with_hands_chat_suspension_and_departures(
    worker: MosaicServer,
) -> None:
    account = await signup(worker.url)
    meeting = await account.create_meeting()  # passcode and waiting room on
    link = meeting["join_url"]
    host = await join(link, name="Host", cookies=account.cookies, headers=address())
    addresses = {name: address() for name in ("Ann", "Bob", "Lea", "Rex", "Walt")}
    guests = {name: await join(link, name=name, headers=at) for name, at in addresses.items()}
    ann, bob, lea, rex, walt = guests.values()
    try:
        await host.wait_until(lambda: len(host.waiting) == 5)
        await host.request("admit", participants=[ann.id, bob.id, lea.id, rex.id])
        for guest in (ann, bob, lea, rex):
            await guest.wait_admitted()
        await bob.request("hand", raised=True)
        await ann.request("hand", raised=True)
        await host.request("chat", text="hello everyone")
        await ann.request("chat", text="psst", to=bob.id)
        await bob.wait_until(lambda: len(bob.chat) == 2)
        await host.wait_until(lambda: hands(host) == ["Bob", "Ann"] and len(host.chat) == 1)
        lea_token, rex_token = lea.resume_token, rex.resume_token
        assert lea_token is not None and rex_token is not None
        await lea.leave()
        await host.request("remove", participant=rex.id)
        await host.request("suspend")  # mutes everyone, closes chat, locks the meeting
        await host.wait_until(lambda: host.meeting.get("locked") is True)
        back = (host, ann, bob, walt)
        resumed: dict[str, list[dict[str, Any]]] = {p.name or "": [] for p in back}
        for participant in back:
            participant.on("resumed", resumed[participant.name or ""].append)

        await kill_and_start_again(worker)
        listening_at = time.monotonic()
        for participant in back:
            await participant.wait_until(
                lambda p=participant: bool(resumed[p.name or ""]),  # type: ignore[misc]
                timeout=max(0.1, BACK_WITHIN_S - (time.monotonic() - listening_at)),
            )
        await host.wait_until(lambda: {ann.id, bob.id} <= set(host.participants), timeout=5)
        print(
            f"everyone back {time.monotonic() - listening_at:.1f} s after the new worker listened"
        )

        # Roles and admission (the token), the waiting one still waiting.
        assert (host.role, ann.role, bob.role) == ("host", "participant", "participant")
        assert (ann.state, bob.state, walt.state) == ("joined", "joined", "waiting")
        await host.wait_until(lambda: [w["id"] for w in host.waiting] == [walt.id])
        # Hands in the order they went up (the journal).
        await host.wait_until(lambda: hands(host) == ["Bob", "Ann"])
        # Each is given back what it was sent, and nothing else; clients keep each message once.
        given = {name: [m["text"] for m in r[0].get("chat", [])] for name, r in resumed.items()}
        assert given == {
            "Host": ["hello everyone"],
            "Ann": ["hello everyone", "psst"],
            "Bob": ["hello everyone", "psst"],
            "Walt": [],
        }
        assert [m["text"] for m in host.chat] == ["hello everyone"]
        assert [m["text"] for m in bob.chat] == ["hello everyone", "psst"]
        # The suspension holds: the lock and settings (the store) and Ann's muted microphone
        # (the journal): she may not turn it back on.
        assert host.meeting["locked"] is True
        with pytest.raises(SignalingError) as unmute:
            await ann.request("media", source="microphone", on=True)
        assert unmute.value.code == "forbidden"
        # The removed guest stays out, joining again or with its old token; the one who left
        # cannot come back with hers.
        with pytest.raises(SignalingError) as rejoin:
            await join(link, name="Rex", headers=addresses["Rex"])
        assert rejoin.value.reason == "removed"
        assert (await resume_with(link, rex_token)).reason == "removed"
        assert (await resume_with(link, lea_token)).reason == "left"
    finally:
        for participant in (host, *guests.values()):
            await participant.leave()
        await account.client.aclose()


async def live_keys(redis_server: RedisServer, meeting_id: str) -> list[bytes]:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        return [key for key in keys.room_all(meeting_id) if await client.exists(key)]
    finally:
        await client.aclose()


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("how", ["ended", "everyone left"])
async def test_the_live_state_is_deleted_when_the_meeting_is_over(
    worker: MosaicServer, redis_server: RedisServer, how: str
) -> None:
    account = await signup(worker.url)
    created = await account.create_meeting(waiting_room=False)
    link = created["join_url"]
    meeting_id = parse_join_url(link)[1]
    host = await join(link, name="Host", cookies=account.cookies, headers=address())
    guest = await join(link, name="Gus", headers=address())
    try:
        await guest.request("hand", raised=True)
        await host.request("chat", text="hi")
        await until(lambda: _has(redis_server, meeting_id, 2))
        if how == "ended":
            await host.request("end")
        else:
            await guest.leave()
            await host.leave()
        await until(lambda: _has(redis_server, meeting_id, 0))
    finally:
        await guest.leave()
        await host.leave()
        await account.client.aclose()


async def _has(redis_server: RedisServer, meeting_id: str, count: int) -> bool:
    return len(await live_keys(redis_server, meeting_id)) == count
