"""Signaling across workers: participants whose WebSockets land on different `mosaic serve`
processes of one cluster meet on the meeting's home worker (real redis-server, real servers,
real aiortc peers)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mosaic.client import Participant, SignalingError, join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.security.signing import KEY_FILE
from tests.helpers import postgres as postgres_helper
from tests.helpers.api import Account, signup
from tests.helpers.cluster_nodes import Node, start_nodes, workers_of_one_machine
from tests.helpers.participants import LOOPBACK, frames_from
from tests.helpers.redis import RedisServer


@pytest.fixture
def one_machine(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[Node]]:
    """Two workers of one machine: one data directory (database and signing key)."""
    with workers_of_one_machine(tmp_path / "data", redis_server.url) as nodes:
        yield nodes


@pytest.fixture
def two_machines(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[Node]]:
    """Two "machines": their own data directories (the signing key copied, as an operator
    deploys it), one PostgreSQL, one Redis."""
    reason = postgres_helper.unavailable()
    if reason is not None:
        pytest.skip(reason)
    database = postgres_helper.Postgres().start()
    first = start_nodes(
        [tmp_path / "a"], "--redis-url", redis_server.url, "--database-url", database.url
    )
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a" / KEY_FILE, tmp_path / "b" / KEY_FILE)
    nodes = first + start_nodes(
        [tmp_path / "b"], "--redis-url", redis_server.url, "--database-url", database.url
    )
    yield nodes
    for node in nodes:
        node.server.stop()
    database.stop()


async def meet_across(nodes: list[Node], host: Account) -> tuple[Participant, Participant, str]:
    """Ann (the host) lands on the first node, Bob on the second: whichever is home, one of
    them is relayed over the bus."""
    created = await host.create_meeting(waiting_room=False)
    ann = await join(
        nodes[0].link(created["join_url"]),
        name="Ann",
        cookies=host.cookies,
        local_addresses=LOOPBACK,
    )
    bob = await join(nodes[1].link(created["join_url"]), name="Bob", local_addresses=LOOPBACK)
    return ann, bob, created["join_url"]


async def see_hear_and_chat(ann: Participant, bob: Participant) -> None:
    await ann.wait_until(lambda: bob.id in ann.participants)
    await bob.wait_until(lambda: ann.id in bob.participants)
    await ann.request("chat", text="hello from Ann")
    await bob.request("chat", text="hello from Bob")
    for person in (ann, bob):
        await person.wait_until(
            lambda person=person: (
                {m.get("text") for m in person.chat} >= {"hello from Ann", "hello from Bob"}
            )
        )
    await ann.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(width=320, height=180))
    await bob.publish(
        audio=ToneAudioTrack(660), video=PatternVideoTrack(width=320, height=180, shade=90)
    )
    assert await frames_from(bob, ann) == 320
    assert await frames_from(ann, bob) == 320
    for viewer in (ann, bob):
        audio = next(m for m, s in viewer.media.slots.items() if s and s["source"] == "microphone")
        await viewer.wait_until(lambda v=viewer, m=audio: v.media.received[m].packets > 20)


async def test_two_workers_of_one_machine_serve_one_meeting(one_machine: list[Node]) -> None:
    assert one_machine[0].worker != one_machine[1].worker
    host = await signup(one_machine[0].url)
    ann, bob, _ = await meet_across(one_machine, host)
    async with ann, bob:
        await see_hear_and_chat(ann, bob)
    await host.client.aclose()


async def test_two_machines_on_postgresql_serve_one_meeting(two_machines: list[Node]) -> None:
    host = await signup(two_machines[1].url)
    ann, bob, _ = await meet_across(two_machines, host)
    async with ann, bob:
        await see_hear_and_chat(ann, bob)
    await host.client.aclose()


async def home_of(redis_server: RedisServer, meeting_id: str) -> str:
    import redis.asyncio as aioredis

    from mosaic.cluster import keys

    client = aioredis.Redis.from_url(redis_server.url)
    try:
        home = await client.get(keys.home(meeting_id))
    finally:
        await client.aclose()
    assert home is not None
    return home.decode()


async def test_rest_changes_through_another_worker_reach_the_meeting(
    one_machine: list[Node], redis_server: RedisServer
) -> None:
    """The host changes the settings and deletes the meeting through the worker that is not
    its home: the people in it see the change, then the end."""
    host = await signup(one_machine[0].url)
    created = await host.create_meeting(waiting_room=False)
    meeting_id = parse_join_url(created["join_url"])[1]
    bob = await join(one_machine[0].link(created["join_url"]), name="Bob", local_addresses=LOOPBACK)
    async with bob:
        home = await home_of(redis_server, meeting_id)
        elsewhere = next(node for node in one_machine if node.worker != home)
        rest = httpx.AsyncClient(
            base_url=elsewhere.url, cookies=host.cookies, headers={"Origin": elsewhere.url}
        )
        async with rest:
            changed = await rest.patch(
                f"/api/meetings/{meeting_id}",
                json={"settings": {"participants_may_chat": False}},
                headers=host.csrf,
            )
            assert changed.status_code == 200, changed.text
            await bob.wait_until(
                lambda: bob.meeting.get("settings", {}).get("participants_may_chat") is False
            )
            with pytest.raises(SignalingError):
                await bob.request("chat", text="may I?")
            deleted = await rest.delete(f"/api/meetings/{meeting_id}", headers=host.csrf)
            assert deleted.status_code == 204, deleted.text
            await bob.wait_until(lambda: bob.ended_reason is not None)
    await host.client.aclose()


async def test_a_join_without_redis_is_told_the_service_is_unavailable_then_all_is_back(
    one_machine: list[Node], redis_server: RedisServer
) -> None:
    """Redis stops: a new join cannot be placed, and says so (``unavailable``), while the
    meeting already running goes on forwarding media."""
    host = await signup(one_machine[0].url)
    ann, bob, join_url = await meet_across(one_machine, host)
    async with ann, bob:
        await ann.publish(video=PatternVideoTrack(width=320, height=180))
        await frames_from(bob, ann)
        redis_server.stop()
        with pytest.raises(SignalingError) as refused:
            await join(one_machine[1].link(join_url), name="Cid", local_addresses=LOOPBACK)
        assert refused.value.code == "unavailable"
        # Media flows on without Redis.
        await frames_from(bob, ann, count=10)
        # Redis returns (empty): both are served again, the relayed one included (its home
        # sends it to resume for a fresh state if frames for it were lost meanwhile).
        redis_server.start()
        await chat_reaches(ann, bob, "Ann is back")
        await chat_reaches(bob, ann, "Bob is back")
    await host.client.aclose()


async def chat_reaches(sender: Participant, receiver: Participant, text: str) -> None:
    """Say something (asking again while the service is unavailable) and see it arrive."""
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        try:
            await sender.request("chat", text=text)
            break
        except SignalingError:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)
    await receiver.wait_until(lambda: text in {m.get("text") for m in receiver.chat}, timeout=15)


async def test_a_recording_running_on_the_home_is_not_deleted_through_another_worker(
    one_machine: list[Node], redis_server: RedisServer
) -> None:
    """The worker that is not the home sees no recorder of its own: it must not take the
    running recording for one a dead server left, and delete its files under the recorder."""
    host = await signup(one_machine[0].url)
    created = await host.create_meeting(waiting_room=False)
    meeting_id = parse_join_url(created["join_url"])[1]
    ann = await join(
        one_machine[0].link(created["join_url"]),
        name="Ann",
        cookies=host.cookies,
        local_addresses=LOOPBACK,
    )
    async with ann:
        assert await ann.request("recording.start") == {"recording": True}
        home = await home_of(redis_server, meeting_id)
        elsewhere = next(node for node in one_machine if node.worker != home)
        rest = httpx.AsyncClient(
            base_url=elsewhere.url, cookies=host.cookies, headers={"Origin": elsewhere.url}
        )
        async with rest:
            [listed] = (await rest.get(f"/api/meetings/{meeting_id}/recordings")).json()
            assert listed["recording"] is True
            path = f"/api/meetings/{meeting_id}/recordings/{listed['id']}"
            assert (await rest.delete(path, headers=host.csrf)).status_code == 409
            assert (await rest.get(path)).status_code == 409
    await host.client.aclose()
