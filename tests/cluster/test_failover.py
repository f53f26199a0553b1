"""A meeting outlives its home: kill -9 of the home node, SIGTERM of a worker, Redis restarted.

Two nodes (two "machines": their own data directories with the signing key copied, one
PostgreSQL, one Redis) behind a load balancer (`tests.helpers.balancer`), as an operator runs
them. The participants use the balancer's address, as they would a service's; media goes
straight to the home worker's UDP ports. Everything is real: servers, Redis, PostgreSQL,
aiortc peers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mosaic.client import Participant, SignalingError, join, parse_join_url
from mosaic.client.signaling import SignalingClient
from mosaic.client.synthetic import PatternVideoTrack
from mosaic.security.signing import KEY_FILE
from tests.helpers import postgres as postgres_helper
from tests.helpers.api import Account, signup
from tests.helpers.balancer import Balancer, Service, balanced_workers, client_address
from tests.helpers.cluster_nodes import Node, start_nodes
from tests.helpers.participants import LOOPBACK
from tests.helpers.redis import RedisServer

BACK_WITHIN_S = 5.0


@pytest.fixture
def service(tmp_path: Path, redis_server: RedisServer) -> Iterator[Service]:
    reason = postgres_helper.unavailable()
    if reason is not None:
        pytest.skip(reason)
    database = postgres_helper.Postgres().start()
    shared = ("--redis-url", redis_server.url, "--database-url", database.url,
              "--trusted-proxies", "127.0.0.1")  # fmt: skip
    nodes: list[Node] = []
    try:
        nodes += start_nodes([tmp_path / "a"], *shared)
        (tmp_path / "b").mkdir()
        shutil.copy(tmp_path / "a" / KEY_FILE, tmp_path / "b" / KEY_FILE)
        nodes += start_nodes([tmp_path / "b"], *shared)
        balancer = Balancer([node.server.port for node in nodes]).start()
        yield Service(nodes, balancer, redis_server)
        balancer.stop()
    finally:
        for node in nodes:
            node.server.stop()
        database.stop()


@dataclass
class Meeting:
    account: Account
    join_url: str
    meeting_id: str
    host: Participant
    ann: Participant
    bob: Participant
    walt: Participant
    rex: Participant

    @property
    def admitted(self) -> tuple[Participant, Participant, Participant]:
        return (self.host, self.ann, self.bob)

    async def leave(self) -> None:
        for participant in (self.host, self.ann, self.bob, self.walt, self.rex):
            await participant.leave()
        await self.account.client.aclose()


async def a_meeting(service: Service, *, with_removal: bool = True) -> Meeting:
    """Host and Ann publish a camera, Bob watches; Walt waits; Rex was removed; the meeting
    is locked and has some chat."""
    account = await signup(service.nodes[0].url)
    created = await account.create_meeting()  # passcode and waiting room on
    link = service.link(created["join_url"])
    host = await join(
        link,
        name="Host",
        cookies=account.cookies,
        local_addresses=LOOPBACK,
        headers=client_address(),
    )
    ann, bob, walt, rex = [
        await join(link, name=name, local_addresses=LOOPBACK, headers=client_address())
        for name in ("Ann", "Bob", "Walt", "Rex")
    ]
    meeting = Meeting(
        account, created["join_url"], parse_join_url(link)[1], host, ann, bob, walt, rex
    )
    await host.wait_until(lambda: len(host.waiting) == 4)
    await host.request("admit", participants=[ann.id, bob.id, rex.id])
    for guest in (ann, bob, rex):
        await guest.wait_admitted()
    if with_removal:
        await host.request("remove", participant=rex.id)
        await rex.wait_until(lambda: rex.state == "gone")
    await host.request("chat", text="welcome")
    await ann.request("chat", text="thanks")
    await host.request("lock", locked=True)
    await host.publish(video=PatternVideoTrack(width=320, height=180))
    await ann.publish(video=PatternVideoTrack(width=320, height=180, shade=90))
    for viewer, sender in ((ann, host), (bob, host), (host, ann)):
        await new_frame(viewer, sender, None)
    return meeting


async def new_frame(viewer: Participant, sender: Participant, old: Any) -> float:
    """When ``viewer`` decoded a frame of ``sender``'s camera on a track other than ``old``
    (after a failover the media starts afresh: a new track)."""
    await viewer.wait_until(
        lambda: viewer.track_of(sender.id) not in (None, old), timeout=BACK_WITHIN_S * 3
    )
    track = viewer.track_of(sender.id)
    assert track is not None
    await asyncio.wait_for(track.recv(), BACK_WITHIN_S * 3)
    return time.monotonic()


async def everyone_back_with_media(meeting: Meeting, since: float) -> dict[str, float]:
    """Seconds from ``since`` to each admitted participant's first new frame."""
    host, ann, bob = meeting.admitted
    old = {
        (viewer.name, sender.name): viewer.track_of(sender.id or "")
        for viewer, sender in ((ann, host), (bob, host), (host, ann))
    }
    pairs = ((ann, host), (bob, host), (host, ann))
    times = await asyncio.gather(
        *(new_frame(v, s, old[(v.name, s.name)]) for v, s in pairs), return_exceptions=True
    )
    stuck = [
        f"{v.name} sees no new frame of {s.name} ({v.connection_state}, {v.state},"
        f" track {'new' if v.track_of(s.id or '') not in (None, old[(v.name, s.name)]) else 'old'},"
        f" sender {s.connection_state})"
        for (v, s), t in zip(pairs, times, strict=True)
        if isinstance(t, BaseException)
    ]
    assert not stuck, stuck
    return {v.name or "": float(t) - since for (v, _), t in zip(pairs, times, strict=True)}  # type: ignore[arg-type]


async def what_survived(service: Service, meeting: Meeting) -> None:
    """Roles, the waiting one still waiting, the removed one refused, the lock, the chat."""
    host, ann, bob = meeting.admitted
    walt, rex = meeting.walt, meeting.rex
    await host.wait_until(lambda: {ann.id, bob.id} <= set(host.participants), timeout=5)
    assert (host.role, ann.role, bob.role) == ("host", "participant", "participant")
    assert walt.state == "waiting"
    await host.wait_until(lambda: [w["id"] for w in host.waiting] == [walt.id], timeout=5)
    assert host.meeting["locked"] is True
    for person in (host, ann, bob):
        assert [m["text"] for m in person.chat] == ["welcome", "thanks"]
    # The removed guest tries again through the service, and the lock keeps out a newcomer.
    link = service.link(meeting.join_url)
    with pytest.raises(SignalingError) as again:
        await join(link, name="Rex", headers=rex.signaling.headers)
    assert again.value.reason == "removed"
    with pytest.raises(SignalingError) as newcomer:
        await join(link, name="Nia", headers=client_address())
    assert newcomer.value.reason == "locked"
    assert rex.state == "gone"
    token = rex.resume_token
    assert token is not None
    url, _, _ = parse_join_url(service.link(meeting.join_url))
    raw = SignalingClient(url, reconnect=False, headers=client_address())
    await raw.connect()
    try:
        with pytest.raises(SignalingError) as resumed:
            await raw.request("resume", token=token)
        assert resumed.value.reason == "removed"
    finally:
        await raw.close()


async def test_kill_9_of_the_home_node_everyone_back_with_media_within_5_s(
    service: Service,
) -> None:
    meeting = await a_meeting(service)
    try:
        home = await service.home_of(meeting.meeting_id)
        resumed: dict[str, list[dict[str, Any]]] = {}
        for person in (*meeting.admitted, meeting.walt):
            resumed[person.name or ""] = []
            person.on("resumed", resumed[person.name or ""].append)
        assert home.server.process is not None
        killed_at = time.monotonic()
        home.server.process.kill()
        took = await everyone_back_with_media(meeting, killed_at)
        print("first new frame after kill -9 of the home:",
              ", ".join(f"{name} {s:.2f} s" for name, s in took.items()))  # fmt: skip
        assert max(took.values()) < BACK_WITHIN_S, took
        new_home = await service.home_of(meeting.meeting_id)
        assert new_home is not home
        await what_survived(service, meeting)
        # The chat given back to each is what it was sent (host and Ann: both messages).
        assert [m["text"] for m in resumed["Host"][-1].get("chat", [])] == ["welcome", "thanks"]
        await meeting.walt.wait_until(lambda: bool(resumed["Walt"]), timeout=5)
        assert resumed["Walt"][-1]["state"] == "waiting"
        # And the meeting works on its new home: the host admits Walt.
        await meeting.host.request("admit", participants=[meeting.walt.id])
        await meeting.walt.wait_admitted()
    finally:
        await meeting.leave()


async def test_sigterm_drains_a_worker_participants_see_at_most_a_media_reconnect(
    service: Service,
) -> None:
    meeting = await a_meeting(service, with_removal=False)
    try:
        home = await service.home_of(meeting.meeting_id)
        states: dict[str, list[str]] = {}
        for person in meeting.admitted:
            states[person.name or ""] = []
            person.on("connection", lambda e, n=person.name or "": states[n].append(e["state"]))
        started = time.monotonic()
        os.kill(home.server.pid, signal.SIGTERM)
        took = await everyone_back_with_media(meeting, started)
        print("first new frame after SIGTERM of the home:",
              ", ".join(f"{name} {s:.2f} s" for name, s in took.items()))  # fmt: skip
        assert max(took.values()) < BACK_WITHIN_S, took
        assert home.server.process is not None
        assert await asyncio.to_thread(home.server.process.wait, 15) == 0
        # Nobody was turned away or left waiting: the same people, roles, chat, lock.
        host, ann, bob = meeting.admitted
        assert all(p.state == "joined" for p in meeting.admitted)
        assert meeting.walt.state == "waiting"
        assert host.meeting["locked"] is True
        await host.wait_until(lambda: {ann.id, bob.id} <= set(host.participants), timeout=5)
        assert (host.role, ann.role, bob.role) == ("host", "participant", "participant")
        for person in meeting.admitted:
            assert [m["text"] for m in person.chat] == ["welcome", "thanks"]
            assert states[person.name or ""][-1] == "connected", states
    finally:
        await meeting.leave()


@pytest.fixture
def one_machine(tmp_path: Path, redis_server: RedisServer) -> Iterator[Service]:
    """Two workers of one machine (one data directory) behind the balancer; no PostgreSQL."""
    with balanced_workers(tmp_path / "data", redis_server) as service:
        yield service


async def join_when_available(link: str, name: str, within_s: float) -> Participant:
    """Join, retrying while the service answers ``unavailable``."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await join(link, name=name, local_addresses=LOOPBACK, headers=client_address())
        except SignalingError as refused:
            if refused.code != "unavailable" or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_redis_stopped_and_started_media_flows_joins_wait_then_everything_is_back(
    one_machine: Service,
) -> None:
    service = one_machine
    account = await signup(service.nodes[0].url)
    created = await account.create_meeting(waiting_room=False)
    link = service.link(created["join_url"])
    host = await join(
        link,
        name="Host",
        cookies=account.cookies,
        local_addresses=LOOPBACK,
        headers=client_address(),
    )
    bob = await join(link, name="Bob", local_addresses=LOOPBACK, headers=client_address())
    newcomers: list[Participant] = []
    try:
        await host.publish(video=PatternVideoTrack(width=320, height=180))
        await new_frame(bob, host, None)
        await bob.request("hand", raised=True)
        await host.request("chat", text="before")
        await bob.wait_until(lambda: len(bob.chat) == 1)

        service.redis.stop()
        # Media flows on; a join cannot be placed and says so.
        track = bob.track_of(host.id or "")
        assert track is not None
        for _ in range(10):
            await asyncio.wait_for(track.recv(), 5)
        with pytest.raises(SignalingError) as refused:
            await join(link, name="Cid", local_addresses=LOOPBACK, headers=client_address())
        assert refused.value.code == "unavailable"

        service.redis.start()  # empty: nothing was saved
        back_at = time.monotonic()
        cid = await join_when_available(link, "Cid", within_s=15)
        newcomers.append(cid)
        print(f"a join works again {time.monotonic() - back_at:.1f} s after Redis came back")
        await new_frame(cid, host, None)  # one meeting, one home: Cid sees the host
        await host.wait_until(lambda: cid.id in host.participants)

        # What lived only in Redis was written again: kill -9 of the home now loses nothing.
        home = await service.home_of(parse_join_url(link)[1])
        assert home.server.process is not None
        resumed: list[dict[str, Any]] = []
        bob.on("resumed", resumed.append)
        killed_at = time.monotonic()
        home.server.process.kill()
        await new_frame(bob, host, track)
        print(f"back after kill -9 of the home: {time.monotonic() - killed_at:.1f} s")
        await bob.wait_until(lambda: bool(resumed))
        assert [m["text"] for m in resumed[-1].get("chat", [])] == ["before"]
        await host.wait_until(lambda: (host.participants.get(bob.id or "") or {}).get("hand"))
    finally:
        for participant in (host, bob, *newcomers):
            await participant.leave()
        await account.client.aclose()
