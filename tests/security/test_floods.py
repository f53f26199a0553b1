"""Floods that need no guess: guests trickling in under the radar, idle sockets by the
thousand, and what running out of files does to the server and its log."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from pathlib import Path

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from mosaic.client import join
from mosaic.domain.access import Visitor
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.settings import MeetingSettings
from tests.helpers.api import signup
from tests.helpers.floods import guest_joins, open_socket


async def closed_with(sock: ClientConnection, within_s: float) -> int | None:
    """The close code the server sent within ``within_s`` seconds, or None if still open."""
    try:
        async with asyncio.timeout(within_s):
            await sock.wait_closed()
    except TimeoutError:
        return None
    return sock.close_code


# -- a slow join flood ------------------------------------------------------------------------


def test_eleven_guests_every_ten_seconds_trip_the_minute_window() -> None:
    """Paced to stay under the 10-second window (12), 11 guests every 10 s made 62 admitted
    in a minute and no alert; the one-minute window (40) now catches it."""
    meeting = LiveMeeting(
        id="abcd-efgh-jkmn",
        topic="Class",
        host_user_id=1,
        settings=MeetingSettings(waiting_room=False, passcode_required=False),
    )
    tripped = []
    for burst in range(6):
        for k in range(11):
            now = burst * 10.2 + k * 0.01  # a hair over 10 s apart: never 12 in 10 s
            _, flood = meeting.enter(f"g{burst}-{k}", f"Bot {burst}.{k}", Visitor(), now)
            if flood:
                tripped.append(meeting.last_flood)
    assert tripped == [(40, 60.0)]
    assert len(meeting.roster.admitted()) == 39 and meeting.settings.waiting_room
    assert len(meeting.roster.waiting()) == 66 - 39


async def test_a_paced_join_flood_alerts_the_host_with_its_window(make_server) -> None:
    # The windows scaled down so that the test takes seconds: 12 in 1 s, 30 in 20 s.
    server = make_server("--join-flood-windows", "1:12,20:30")
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False, passcode_required=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        states = []
        for burst in range(3):
            if burst:
                await asyncio.sleep(1.2)  # never 12 within the short window
            for k in range(11):
                states.append(await guest_joins(server, meeting["id"], f"Bot {burst}.{k}"))
        assert states[:29] == ["joined"] * 29
        assert states[29:] == ["waiting"] * 4
        alert = await boss.wait_for("alert", lambda e: e["code"] == "join_flood")
        assert (alert["guests"], alert["seconds"]) == (30, 20)
        await boss.wait_until(lambda: boss.meeting["settings"]["waiting_room"] is True)


# -- idle sockets -----------------------------------------------------------------------------


async def test_idle_sockets_from_one_address_are_capped_and_the_server_stays_responsive(
    make_server,
) -> None:
    server = make_server("--trusted-proxies", "127.0.0.1")
    sockets = await asyncio.gather(*(open_socket(server, "198.51.100.7") for _ in range(60)))
    codes = await asyncio.gather(*(closed_with(sock, 2.0) for sock in sockets))
    assert codes.count(None) == 20  # the default cap
    assert set(codes) == {None, 4429}, codes  # the others got a typed refusal
    # Another address is not affected, and the server answers at once.
    async with await open_socket(server, "203.0.113.7") as other:
        assert await closed_with(other, 0.3) is None
    async with httpx.AsyncClient(base_url=server.url) as client:
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        response = await client.post(
            "/api/auth/signup",
            json={"name": "Late", "email": "late@example.org", "password": "blue tulip canyon 9"},
        )
        assert response.status_code < 300, response.text
        assert time.perf_counter() - started < 3.0
    for sock in sockets:
        await sock.close()


async def test_a_socket_that_never_joins_is_closed_at_the_deadline(make_server) -> None:
    server = make_server("--join-deadline-s", "1")
    host = await signup(server.url)
    meeting = await host.create_meeting()
    idle = await open_socket(server)
    joined = await open_socket(server, cookies=host.cookies)
    frame = {"id": 1, "type": "join", "meeting": meeting["id"], "name": "Host"}
    await joined.send(json.dumps(frame))
    assert json.loads(await joined.recv())["type"] == "reply"
    started = time.perf_counter()
    assert await closed_with(idle, 5.0) == 4408
    assert 0.3 < time.perf_counter() - started < 3.0
    assert await closed_with(joined, 1.0) is None  # a participant stays
    await joined.close()


def test_the_server_raises_its_soft_open_file_limit_to_the_hard_one(make_server) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # what the child inherits
    try:
        server = make_server()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    limits = Path(f"/proc/{server.pid}/limits").read_text()
    line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
    server_soft, server_hard = line.split()[3:5]
    assert server_soft == server_hard != "256", line


async def test_running_out_of_files_is_logged_once_and_the_server_recovers(make_server) -> None:
    """Idle sockets from many addresses (each under the cap) fill a small file table: the log
    says so once, not 5,000 times a second with tracebacks (135 MB a minute before), and the
    join deadline empties the table again by itself."""
    server = make_server("--trusted-proxies", "127.0.0.1", "--join-deadline-s", "3")
    _, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (96, hard))

    async def idle(i: int) -> ClientConnection | None:
        try:
            async with asyncio.timeout(2.0):
                return await open_socket(server, f"10.1.{i // 250}.{i % 250}")
        except (TimeoutError, OSError, websockets.InvalidHandshake):
            return None

    sockets = [sock for sock in await asyncio.gather(*(idle(i) for i in range(250))) if sock]
    await asyncio.sleep(4.0)  # past the join deadline: the server closed the idle ones
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
        assert (await client.get("/healthz")).status_code == 200
    for sock in sockets:
        await sock.close()
    log = server.log
    reports = [line for line in log.splitlines() if "out of system resource" in line]
    assert 1 <= len(reports) <= 2, reports[:3]  # the table was full, and said so once
    assert "Traceback" not in log
    assert len(log) < 200_000
